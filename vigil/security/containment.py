"""Containment blocks what it claims, tried with vigil's containment (``vigil/contain/``, the
same plan, run and verify as ``vigil incident contain``) on throwaways made here and removed
after, even on failure:

* a throwaway login role with an open session: contained, the session is gone and a new
  login is refused; released, it logs in again;
* a throwaway actor, as an application role on a tenant's rows: contained, it reads nothing
  and its refusal is recorded in the access log; released, it reads again;
* a throwaway tenant id: contained, the application role may not write a row for it (the
  write stopped before the row is stored, see ``writeprobe``); released, the policy admits it
  again.

Released containments stay in ``vigil_monitor.containments`` (its history) under incident 0
by ``vigil-security-test``; the actor's refusals stay in the access log; the actor's
refused-writes counter (schema 020) is dropped, since it never wrote. Nothing of it is
visible to the application.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable

import psycopg
from psycopg import sql

from vigil import contain
from vigil.contain import Target, policies
from vigil.contain.model import Kind
from vigil.core import pg
from vigil.core.errors import VigilError
from vigil.security import isolation, writeprobe
from vigil.security.result import SecurityTest, failed, passed, unexamined
from vigil.security.rolelogin import create_login, drop_login, login
from vigil.security.scope import Conn, Scope, TenantTable

CONTAINMENT = "Containment blocks what it claims"
WHO = "vigil-security-test"
INCIDENT = 0   # not an incident: the throwaway containments of this test


def containment(conn: Conn, dsn: str, scope: Scope) -> list[SecurityTest]:
    if conn.execute("SELECT to_regclass('vigil_monitor.containments')").fetchone() == (None,):
        return [unexamined(CONTAINMENT, "throwaway role, actor and tenant",
                           "to contain and release a throwaway role, actor and tenant",
                           "the containment schema is not installed (vigil db install)")]
    suffix = secrets.token_hex(4)
    out = [_guarded(dsn, "role", f"vigil_sectest_{suffix}",
                    lambda target: _role(conn, dsn, target))]
    readable = _readable(conn, scope)
    if readable is None:
        why = "no application role may read a tenant table with two tenants' rows"
        out += [unexamined(CONTAINMENT, f"{kind} (throwaway)", f"to contain a throwaway {kind}",
                           why) for kind in ("actor", "tenant")]
        return out
    role, table, tenants = readable
    out.append(_guarded(dsn, "actor", f"vigil-sectest-{suffix}",
                        lambda target: _actor(conn, dsn, target, (role, table, tenants[0]))))
    value = _throwaway_tenant(conn, table, suffix)
    out.append(_guarded(dsn, "tenant", value,
                        lambda target: _tenant(conn, dsn, target, (role, table))))
    return out


def _guarded(dsn: str, kind: Kind, value: str,
             run: Callable[[Target], SecurityTest]) -> SecurityTest:
    """Run one containment test; whatever happens, the throwaway ends up released."""
    target = Target(kind, value)
    try:
        return run(target)
    except (VigilError, psycopg.Error) as exc:
        return unexamined(CONTAINMENT, f"{kind} {value}", f"to contain the throwaway {kind}",
                          f"containment failed ({type(exc).__name__})")
    finally:
        _release(dsn, target)
        if kind == "role":
            drop_login(dsn, value)


def _contain(dsn: str, target: Target) -> None:
    # vigil incident contain's own plan, run and verify (its approval gate is the router's).
    contain.contain(dsn, target, INCIDENT, WHO, timeout=5.0)


def _release(dsn: str, target: Target) -> None:
    # Never contained (it failed before), or released already: nothing to undo.
    with contextlib.suppress(VigilError, psycopg.Error):
        contain.release(dsn, target, WHO)
    if target.kind == "actor":
        _drop_counters(dsn, str(target.value))


def _drop_counters(dsn: str, actor: str) -> None:
    """A real containment keeps its refused-writes counter (schema 020) for the incident's
    history; the throwaway actor's would only pile up, one sequence per run of this test.
    It never wrote, so no transaction holds its counter and the drop doesn't wait."""
    with contextlib.suppress(VigilError, psycopg.Error), pg.connect(dsn) as conn:
        conn.execute("SET lock_timeout = '2s'")
        for (cid,) in conn.execute(
                "SELECT id FROM vigil_monitor.containments WHERE kind = 'actor' "
                "AND target = %s AND released_at IS NOT NULL", (actor,)).fetchall():
            conn.execute(sql.SQL("DROP SEQUENCE IF EXISTS {}").format(
                sql.Identifier("vigil_monitor", f"refused_writes_{int(str(cid))}")))


def _role(conn: Conn, dsn: str, target: Target) -> SecurityTest:
    subject = f"role {target.value} (throwaway)"
    tried = "contain a login role with an open session, then log in again; release; log in"
    secret = create_login(conn, target.value)
    try:
        session = login(dsn, target.value, secret)
    except VigilError:
        return unexamined(CONTAINMENT, subject, tried, "could not log in as the throwaway "
                          "role before containing it (pg_hba.conf)")
    with session:
        _contain(dsn, target)
        try:
            session.execute("SELECT 1")
            alive = True
        except psycopg.OperationalError:
            alive = False
    refused = _login_refused(dsn, target.value, secret)
    _release(dsn, target)
    restored = not _login_refused(dsn, target.value, secret)
    return _verdict(subject, tried, (
        (not alive, "its open session survived"), (refused, "a new login was accepted"),
        (restored, "release did not let it log in again")),
        "session ended, new login refused; released: logs in again")


def _verdict(subject: str, tried: str, checks: tuple[tuple[bool, str], ...],
             success: str) -> SecurityTest:
    """Failed naming every check that did not hold (its problem), else passed."""
    problems = [problem for held, problem in checks if not held]
    if problems:
        return failed(CONTAINMENT, subject, tried, "; ".join(problems))
    return passed(CONTAINMENT, subject, tried, success)


def _login_refused(dsn: str, role: str, secret: str) -> bool:
    try:
        with login(dsn, role, secret):
            return False
    except VigilError:
        return True


def _readable(conn: Conn, scope: Scope) -> tuple[str, TenantTable, tuple[str, str]] | None:
    """An application role, a tenant table it may read, and two tenants with rows there."""
    for t in scope.tables:
        if t.tenant_column is None or not t.rls_enabled:
            continue
        tenants = isolation.two_tenants(conn, t, None)
        for role in scope.app_roles:
            if tenants and _may(conn, role, t, "SELECT"):
                return role, t, tenants
    return None


def _may(conn: Conn, role: str, t: TenantTable, privilege: str) -> bool:
    row = conn.execute("SELECT has_table_privilege(%s, %s::oid, %s)",
                       (role, t.oid, privilege)).fetchone()
    return bool(row and row[0])


def _as(conn: Conn, role: str, tenant: str, actor: str | None = None) -> None:
    conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
    conn.execute("SELECT set_config('app.current_tenant_id', %s, true)", (tenant,))
    if actor is not None:
        conn.execute("SELECT set_config('app.current_actor_id', %s, true)", (actor,))


def _sees_rows(conn: Conn, role: str, table: TenantTable, tenant: str, actor: str) -> bool:
    # Committed, not rolled back: a contained actor's refusal is recorded in the access log,
    # which is part of what containment claims.
    with conn.transaction():
        _as(conn, role, tenant, actor)
        return conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(
            sql.SQL(table.name))).fetchone() is not None


def _actor(conn: Conn, dsn: str, target: Target,
           where: tuple[str, TenantTable, str]) -> SecurityTest:
    role, table, tenant = where
    actor = str(target.value)
    subject = f"actor {actor} (throwaway) as {role} on {table.name}"
    tried = f"read tenant {tenant}'s rows as the actor: before, contained, released"
    if not _sees_rows(conn, role, table, tenant, actor):
        return unexamined(CONTAINMENT, subject, tried, "the actor read nothing even before "
                          "it was contained")
    _contain(dsn, target)
    blocked = not _sees_rows(conn, role, table, tenant, actor)
    row = conn.execute("SELECT count(*) FROM vigil_monitor.access_log WHERE actor_id = %s "
                       "AND NOT success", (actor,)).fetchone()
    recorded = bool(row and int(str(row[0])) > 0)
    _release(dsn, target)
    restored = _sees_rows(conn, role, table, tenant, actor)
    return _verdict(subject, tried, (
        (blocked, "the contained actor still read rows"),
        (recorded, "its refusal was not recorded in the access log"),
        (restored, "release did not let it read again")),
        "contained: read nothing, refusal recorded; released: reads again")


def _throwaway_tenant(conn: Conn, t: TenantTable, suffix: str) -> str:
    """A tenant id no one has, of the tenant column's own type."""
    row = conn.execute("SELECT t.typcategory FROM pg_attribute a JOIN pg_type t "
                       "ON t.oid = a.atttypid WHERE a.attrelid = %s::oid AND a.attname = %s",
                       (t.oid, t.tenant_column)).fetchone()
    category = str(row[0]) if row else "S"
    if category == "N":  # negative and within smallint: no application hands these out
        return str(-(int(suffix, 16) % 30000) - 1)
    if category == "U":  # uuid
        return f"{suffix}-0000-4000-8000-5ec7e5700000"
    return f"vigil-sectest-{suffix}"


def _admitted(conn: Conn, role: str, table: TenantTable, tenant: str) -> bool | None:
    """Do the policies admit a row for ``tenant`` written as that tenant? None: the insert
    failed before they were checked. Never stored (writeprobe)."""
    with conn.transaction(force_rollback=True):
        _as(conn, role, tenant)
        verdict, _ = writeprobe.insert(conn, table, tenant)
    return {"admitted": True, "refused": False}.get(verdict)


def _tenant(conn: Conn, dsn: str, target: Target,
            where: tuple[str, TenantTable]) -> SecurityTest:
    role, table = where
    tenant = str(target.value)
    subject = f"tenant {tenant} (throwaway) as {role} on {table.name}"
    tried = ("write a row for the tenant as that tenant (never stored): before, contained, "
             "released")
    if not _may(conn, role, table, "INSERT"):
        return unexamined(CONTAINMENT, subject, tried, "the role may not insert into the table")
    if policies.tenant_has_rows(conn, sql.SQL(table.name), str(table.tenant_column),
                                tenant):
        return unexamined(CONTAINMENT, subject, tried, "the throwaway tenant id has rows")
    if _admitted(conn, role, table, tenant) is not True:
        return unexamined(CONTAINMENT, subject, tried, "the write was refused, or failed, "
                          "before the tenant was contained")
    _contain(dsn, target)
    blocked = _admitted(conn, role, table, tenant) is False
    _release(dsn, target)
    restored = _admitted(conn, role, table, tenant) is True
    return _verdict(subject, tried, (
        (blocked, "the contained tenant's row was admitted"),
        (restored, "release did not admit it again")),
        "contained: refused by row level security; released: admitted again")

