"""Run every security test on one database, as the administrator it connects as."""

from __future__ import annotations

from vigil.core import pg
from vigil.core.errors import VigilError
from vigil.security import controls, isolation
from vigil.security.containment import containment
from vigil.security.result import SecurityTest, unexamined
from vigil.security.scope import Conn, Scope, read


def run_tests(dsn: str, app_roles: tuple[str, ...] = ()) -> list[SecurityTest]:
    """``dsn``: a superuser on the monitored database (NotSuperuser otherwise). Only the
    containment test commits anything (see vigil/security/containment.py), and undoes it."""
    with pg.connect(dsn, application_name="vigil-security-test") as conn:
        require_superuser(conn)
        # A locked table or audit log is reported as not examined, not waited on.
        conn.execute("SET lock_timeout = '2s'")
        scope = read(conn, app_roles)
        out = tenant_isolation(conn, dsn, scope)
        out += controls.bypass(conn, scope)
        out += controls.force(conn, scope)
        out += controls.monitor_phi(conn, scope)
        out += controls.audit_log(conn)
        out += containment(conn, dsn, scope)
    return out


def tenant_isolation(conn: Conn, dsn: str, scope: Scope) -> list[SecurityTest]:
    """The isolation tests alone (``vigil recovery verify`` reuses them)."""
    if not scope.app_roles:
        return [unexamined(isolation.INVISIBLE, "-", "to find the application roles",
                           "no role is granted a tenant table or named in a policy "
                           "(use --app-role)")]
    if not scope.tables:
        return [unexamined(isolation.INVISIBLE, "-", "to find tenant tables",
                           "no table has RLS, a policy or a registered tenant column")]
    row = conn.execute("SELECT nullif(vigil_monitor.setting('probe_tenant'), '')").fetchone()
    prefer = None if row is None or row[0] is None else str(row[0])
    out: list[SecurityTest] = []
    for t in scope.tables:
        if t.tenant_column is None:
            out.append(unexamined(isolation.INVISIBLE, t.name, "to find its tenant column",
                                  f"no tenant column (vigil db tenant-column {t.name} COLUMN)"))
            continue
        tenants = isolation.two_tenants(conn, t, prefer)
        if tenants is None:
            out.append(unexamined(isolation.INVISIBLE, t.name, "to find two tenants with rows",
                                  "fewer than two tenants have rows in it"))
            continue
        for role in scope.app_roles:
            if not _may_read(conn, role, t.oid):
                continue  # a role the table is not granted to has nothing to isolate
            out += isolation.try_table(conn, dsn, role, t, tenants)
    if not out:
        out.append(unexamined(isolation.INVISIBLE, "-", "to find a tenant table an "
                              "application role may read", "none found"))
    return out


def _may_read(conn: Conn, role: str, oid: int) -> bool:
    row = conn.execute("SELECT has_any_column_privilege(%s, %s::oid, 'SELECT') "
                       "OR has_table_privilege(%s, %s::oid, 'INSERT, UPDATE, DELETE')",
                       (role, oid, role, oid)).fetchone()
    return bool(row and row[0])


class NotSuperuser(VigilError):
    """The tests become other roles and try what privileges would refuse anyway."""


def require_superuser(conn: Conn) -> None:
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not (row and row[0]):
        raise NotSuperuser("--dsn: the security tests need a superuser login on the monitored "
                           "database (they become each application role, and a non-superuser's "
                           "own privileges would refuse what the controls must)")
