"""Plan a containment or a release: the exact statements and what each does, nothing run.

The plan reads the database's current state (the role's login and CONNECT grants, the RLS
tables and their tenant columns, what is contained already) and records the prior state in
its first statement, so release restores exactly that. Contain and release are idempotent:
a target contained already (or not contained) plans nothing.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from vigil.contain import policies
from vigil.contain.model import Plan, Step, Target, TargetError

Conn = psycopg.Connection[Any]
# pg_stat_activity.usename is the session user: the sessions a NOLOGIN role keeps open.
TERMINATE = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE usename = {} AND pid <> pg_backend_pid()")


def active_row(conn: Conn, target: Target) -> tuple[int, int, dict[str, Any]] | None:
    """(containment id, incident id, prior state) of the target's active containment."""
    row = conn.execute("SELECT id, incident_id, prior FROM vigil_monitor.containments "
                       "WHERE kind = %s AND target = %s AND released_at IS NULL",
                       (target.kind, target.value)).fetchone()
    return (int(row[0]), int(row[1]), dict(row[2])) if row else None


def _record(conn: Conn, target: Target, incident_id: int, who: str, *,
            prior: dict[str, Any], effect: str) -> Step:
    return Step(sql.SQL("INSERT INTO vigil_monitor.containments (kind, target, incident_id, "
                        "prior, contained_by) VALUES ({}, {}, {}, {}, {})").format(
        sql.Literal(target.kind), sql.Literal(target.value), sql.Literal(incident_id),
        sql.Literal(Jsonb(prior)), sql.Literal(who)).as_string(conn), effect)


def _released(conn: Conn, cid: int, who: str, effect: str) -> Step:
    return Step(sql.SQL("UPDATE vigil_monitor.containments SET released_at = now(), "
                        "released_by = {} WHERE id = {} AND released_at IS NULL").format(
        sql.Literal(who), sql.Literal(cid)).as_string(conn), effect)


def role_state(conn: Conn, role: str) -> dict[str, Any] | None:
    """rolcanlogin and the role's own CONNECT grants on this database (grantor, grant option),
    or None when there is no such role."""
    row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if row is None:
        return None
    grants = conn.execute(
        # pg_get_userbyid: the bare name, as the release compares it with the owner's and
        # quotes it with sql.Identifier (regrole::text would quote "Ops-Admin" twice).
        "SELECT pg_get_userbyid(a.grantor), a.is_grantable FROM pg_database d, "
        "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
        "WHERE d.datname = current_database() AND a.privilege_type = 'CONNECT' "
        "AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s) ORDER BY 1, 2",
        (role,)).fetchall()
    return {"rolcanlogin": bool(row[0]),
            "connect": [{"grantor": str(g[0]), "grantable": bool(g[1])} for g in grants]}


def basis(conn: Conn) -> str:
    """The active containments, as one string: what a plan was made from."""
    row = conn.execute("SELECT coalesce(string_agg(kind || ':' || target || '#' || id, ',' "
                       "ORDER BY id), '') FROM vigil_monitor.containments "
                       "WHERE released_at IS NULL").fetchone()
    return str(row[0]) if row else ""


def _database(conn: Conn) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


def plan_contain(conn: Conn, target: Target, incident_id: int, who: str) -> Plan:
    db = _database(conn)
    held = active_row(conn, target)
    if held is not None:
        return Plan("contain", target, db, incident_id, (),
                    (f"{target.label} is contained already (incident {held[1]}): nothing to do",))
    if target.kind == "role":
        steps, notes = _contain_role(conn, target, incident_id, who, db)
    else:
        steps, notes = _contain_rows(conn, target, incident_id, who)
    return Plan("contain", target, db, incident_id, tuple(steps), tuple(notes), basis(conn))


def plan_release(conn: Conn, target: Target, who: str) -> Plan:
    db = _database(conn)
    held = active_row(conn, target)
    if held is None:
        return Plan("release", target, db, None, (),
                    (f"{target.label} is not contained: nothing to release",))
    cid, incident_id, prior = held
    if target.kind == "role":
        steps, notes = _release_role(conn, target, cid, prior, who=who, db=db)
    else:
        steps, notes = _release_rows(conn, target, cid, who)
    return Plan("release", target, db, incident_id, tuple(steps), tuple(notes), basis(conn))


def _contain_role(conn: Conn, target: Target, incident_id: int, who: str,
                  db: str) -> tuple[list[Step], list[str]]:
    role = target.value
    prior = role_state(conn, role)
    if prior is None:
        raise TargetError("role", f"no role named {role!r} on this server")
    me = conn.execute("SELECT session_user::text, current_user::text").fetchone()
    if me is not None and role in me:
        raise TargetError("role", f"{role!r} is the role vigil is connected as; contain it "
                                  "from another administrator's login")
    row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
                       (role,)).fetchone()
    sessions = int(row[0]) if row else 0
    ident = sql.Identifier(role)
    own = prior["connect"]
    login = "LOGIN" if prior["rolcanlogin"] else "NOLOGIN"
    notes = [] if prior["rolcanlogin"] else [f"{role} is NOLOGIN already; release keeps it so"]
    return [
        _record(conn, target, incident_id, who, prior=prior,
                effect=f"records {role}'s prior state ({login}, own CONNECT grants "
                f"{len(own)}) so release restores exactly that"),
        Step(sql.SQL("ALTER ROLE {} NOLOGIN").format(ident).as_string(conn),
             f"refuses every new login of {role} on this server; sessions already open stay "
             "connected until the terminate step"),
        Step(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(
            sql.Identifier(db), ident).as_string(conn),
            f"revokes {role}'s own CONNECT on {db}" if own else
            f"{role} has no CONNECT grant of its own on {db} (PUBLIC's stays: NOLOGIN is "
            "what refuses its logins); revoked anyway, a no-op"),
        Step(sql.SQL(TERMINATE).format(sql.Literal(role)).as_string(conn),
             f"terminates {role}'s {sessions} open session(s), after the commit; repeated until "
             "none is left, verified within the timeout", after=True),
    ], notes


def _release_role(conn: Conn, target: Target, cid: int, prior: dict[str, Any], *, who: str,
                  db: str) -> tuple[list[Step], list[str]]:
    role, ident = target.value, sql.Identifier(target.value)
    steps: list[Step] = []
    notes: list[str] = []
    if prior.get("rolcanlogin"):
        steps.append(Step(sql.SQL("ALTER ROLE {} LOGIN").format(ident).as_string(conn),
                          f"{role} may log in again, as before the containment"))
    else:
        notes.append(f"{role} was NOLOGIN before the containment: it stays NOLOGIN")
    owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database "
                         "WHERE datname = current_database()").fetchone()
    for grant in prior.get("connect", []):
        stmt = sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(db), ident)
        if grant["grantable"]:
            stmt = sql.SQL("{} WITH GRANT OPTION").format(stmt)
        if owner is None or grant["grantor"] != owner[0]:
            # PostgreSQL records a superuser's grant as the owner's: another grantor's is
            # restored by that grantor.
            stmt = sql.SQL("SET LOCAL ROLE {}; {}; RESET ROLE").format(
                sql.Identifier(grant["grantor"]), stmt)
        steps.append(Step(stmt.as_string(conn),
                          f"restores {role}'s CONNECT on {db} granted by {grant['grantor']}"))
    steps.append(_released(conn, cid, who, "marks the containment released (kept as history)"))
    return steps, notes


def _describe(target: Target) -> str:
    if target.kind == "actor":
        return (f"actor {target.value}'s queries see and write no row; each refused read, "
                "update or delete is recorded in vigil_monitor.access_log (denied, "
                "actor_contained), each refused INSERT counted in the containment's "
                "vigil_monitor.refused_writes_<id> (kept through its rollback)")
    return f"rows of tenant {target.value} invisible and unwritable to every role RLS applies to"


def _contain_rows(conn: Conn, target: Target, incident_id: int,
                  who: str) -> tuple[list[Step], list[str]]:
    tables = policies.rls_tables(conn)
    if not tables:
        raise TargetError(target.kind, "this database has no table with row level security: "
                                       "there is nothing a policy can contain")
    actors, tenants = policies.active(conn)
    notes: list[str] = []
    if target.kind == "actor":
        actors = True
        prior: dict[str, Any] = {"tables": [t.qualified for t in tables]}
    else:
        tenants = [*tenants, target.value]
        with_col = [t for t in tables if t.tenant_column]
        if not with_col:
            raise TargetError("tenant", "no RLS table has a tenant column (register one with "
                                        "vigil db tenant-column TABLE COLUMN)")
        notes += [f"{t.qualified} has no tenant column: not quarantined (vigil db "
                  "tenant-column)" for t in tables if not t.tenant_column]
        has_rows = {t.qualified: policies.tenant_has_rows(
            conn, t.ident, str(t.tenant_column), target.value) for t in with_col}
        if not any(has_rows.values()):
            notes.append(f"no row of tenant {target.value} exists now (a typo?)")
        prior = {"tables": [t.qualified for t in with_col], "has_rows": has_rows}
    notes += [f"{t.qualified} is owned by {t.owner} without FORCE ROW LEVEL SECURITY: sessions "
              f"of {t.owner} are not contained" for t in tables if not t.forced]
    counter = (" and creates its refused-write counter vigil_monitor.refused_writes_<id> "
               "(trigger containment_counter)" if target.kind == "actor" else "")
    steps = [_record(conn, target, incident_id, who, prior=prior,
                     effect=f"records the containment of {target.label} (what the "
                            f"policies enforce){counter}")]
    steps += policies.steps(conn, tables, actors, tenants, _describe(target))
    return steps, notes


def _release_rows(conn: Conn, target: Target, cid: int,
                  who: str) -> tuple[list[Step], list[str]]:
    actors, tenants = policies.active(conn)
    if target.kind == "actor":
        row = conn.execute("SELECT count(*) FROM vigil_monitor.containments WHERE kind = 'actor' "
                           "AND released_at IS NULL AND target <> %s", (target.value,)).fetchone()
        actors = bool(row and row[0])
    else:
        tenants = [t for t in tenants if t != target.value]
    steps = [_released(conn, cid, who, f"{target.label} is no longer contained (kept as "
                                       "history); the policies below follow")]
    steps += policies.steps(conn, policies.rls_tables(conn), actors, tenants,
                            f"{target.label} released; what stays contained is enforced")
    return steps, []

