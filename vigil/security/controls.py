"""The controls beside tenant isolation: the monitoring roles cannot read PHI, no application
role bypasses RLS, and the audit log refuses UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

from psycopg import errors, sql

from vigil.security.result import SecurityTest, failed, passed, unexamined
from vigil.security.scope import Conn, Scope

MONITOR_PHI = "Monitoring role cannot read PHI"
BYPASS = "No application role bypasses RLS"
FORCE = "RLS tables owned by an application role are FORCEd"
AUDIT = "Audit log is append-only"


def monitor_phi(conn: Conn, scope: Scope) -> list[SecurityTest]:
    """``SELECT col ... LIMIT 0`` as each monitoring role: the privilege check runs, no row is
    ever read, so even a failure shows no value."""
    if not scope.phi_columns:
        return [unexamined(MONITOR_PHI, "-", "to read each registered PHI column",
                           "no PHI column registered (vigil db phi add TABLE COLUMN)")]
    if not scope.monitor_roles:
        return [unexamined(MONITOR_PHI, "-", "to find the monitoring logins", "no role is "
                           "granted vigil's read functions (vigil db grants ROLE)")]
    out = []
    for role in scope.monitor_roles:
        readable = []
        tried = f"SELECT of each of the {len(scope.phi_columns)} PHI columns (LIMIT 0)"
        if not _may_become(conn, role):
            out.append(unexamined(MONITOR_PHI, role, tried, "this login may not become the "
                                  "role (connect as a superuser)"))
            continue
        for phi in scope.phi_columns:
            with conn.transaction(force_rollback=True):
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
                try:
                    with conn.transaction():
                        conn.execute(sql.SQL("SELECT {} FROM {} LIMIT 0").format(
                            sql.Identifier(phi.column), sql.SQL(phi.table)))
                    readable.append(f"{phi.table}.{phi.column}")
                except errors.InsufficientPrivilege:
                    pass
        out.append(failed(MONITOR_PHI, role, tried, "readable: " + ", ".join(readable))
                   if readable else passed(MONITOR_PHI, role, tried, "every one refused"))
    return out


def bypass(conn: Conn, scope: Scope) -> list[SecurityTest]:
    if not scope.app_roles:
        return [unexamined(BYPASS, "-", "to find the application roles", "no role is granted "
                           "a tenant table or named in a policy (use --app-role)")]
    out = []
    for role in scope.app_roles:
        # BYPASSRLS is not inherited, but a member may SET ROLE to any role it belongs to.
        rows = conn.execute(
            "SELECT r.rolname, r.rolsuper FROM pg_roles r "
            "WHERE (r.rolbypassrls OR r.rolsuper) AND pg_has_role(%s, r.oid, 'MEMBER') "
            "ORDER BY 1", (role,)).fetchall()
        tried = "pg_roles: BYPASSRLS or SUPERUSER on the role and every role it can become"
        bad = [f"{r[0]} ({'SUPERUSER' if r[1] else 'BYPASSRLS'})" for r in rows]
        out.append(failed(BYPASS, role, tried, "bypasses RLS through " + ", ".join(bad))
                   if bad else passed(BYPASS, role, tried, "neither"))
    return out


def force(conn: Conn, scope: Scope) -> list[SecurityTest]:
    out = []
    tried = "the owner of each tenant table and its FORCE ROW LEVEL SECURITY"
    for t in scope.tables:
        owned_by = [r for r in scope.app_roles if _member(conn, r, t.owner)]
        if not owned_by:
            continue
        out.append(passed(FORCE, t.name, tried, f"owned by {t.owner}, FORCEd") if t.rls_forced
                   else failed(FORCE, t.name, tried, f"owned by {t.owner} (application role "
                               f"{', '.join(owned_by)}) without FORCE: its policies do not "
                               "apply to it"))
    if not out:
        out.append(passed(FORCE, f"{len(scope.tables)} tenant tables", tried,
                          "none is owned by an application role"))
    return out


def _may_become(conn: Conn, role: str) -> bool:
    row = conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (role,)).fetchone()
    return bool(row and row[0])


def _member(conn: Conn, role: str, owner: str) -> bool:
    row = conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (role, owner)).fetchone()
    return bool(row and row[0])


def audit_log(conn: Conn) -> list[SecurityTest]:
    """As this (administrator) session: privileges do not stop it, only the protection
    triggers can. Each statement in a transaction that is rolled back."""
    out: list[SecurityTest] = []
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not (row and row[0]):
        # Privileges would refuse first: that proves the grants, not the protection triggers.
        return [unexamined(AUDIT, "vigil_monitor.audit_log", f"{verb} of the audit log",
                           "this login is not a superuser, so only its privileges would be "
                           "tried (connect as a superuser)")
                for verb in ("UPDATE", "DELETE", "TRUNCATE")]
    with conn.transaction(force_rollback=True):
        row = conn.execute("SELECT max(id) FROM vigil_monitor.audit_log").fetchone()
        target = None if row is None or row[0] is None else int(str(row[0]))
        note = f"audit row {target}"
        if target is None:  # an empty log: a throwaway row, gone with the rollback
            target = -1
            note = "a throwaway audit row inserted in the same transaction"
            conn.execute("INSERT INTO vigil_monitor.audit_log (id, logged_at, actor_id, "
                         "table_name, operation, prev_hash, row_hash) VALUES (-1, now(), "
                         "'vigil-security-test', '-', '-', '-', '-')")
        for verb, stmt in (
                ("UPDATE", "UPDATE vigil_monitor.audit_log SET actor_id = actor_id WHERE id = %s"),
                ("DELETE", "DELETE FROM vigil_monitor.audit_log WHERE id = %s"),
                ("TRUNCATE", "TRUNCATE vigil_monitor.audit_log")):
            what = "the whole audit log" if verb == "TRUNCATE" else note
            tried = f"{verb} of {what} as {conn.info.user} (rolled back)"
            try:
                with conn.transaction():
                    conn.execute(stmt, (target,) if "%s" in stmt else None)
                out.append(failed(AUDIT, "vigil_monitor.audit_log", tried,
                                  f"{verb} succeeded: the protection trigger is missing or "
                                  "disabled"))
            except (errors.InsufficientPrivilege, errors.RaiseException):
                out.append(passed(AUDIT, "vigil_monitor.audit_log", tried, "refused"))
            except errors.LockNotAvailable:
                out.append(unexamined(AUDIT, "vigil_monitor.audit_log", tried,
                                      "the audit log was locked (lock_timeout)"))
    return out

