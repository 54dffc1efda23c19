"""What vigil does not monitor in a database, and the command that fixes each (``vigil db status``).

An unset probe tenant, an RLS table the probe cannot measure, a PHI table without its audit
trigger, an RLS table without a tenant column, a role that bypasses RLS: each reads as healthy
on a dashboard (no series, no alert) unless someone says so. This module says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

Conn = psycopg.Connection[tuple[object, ...]]

_RLS_TABLES = ("FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
               "WHERE c.relrowsecurity AND c.relkind IN ('r', 'p') "
               "AND n.nspname NOT IN ('vigil_monitor', 'pg_catalog', 'information_schema')")


@dataclass(frozen=True)
class Finding:
    problem: str
    fix: str


def findings(conn: Conn) -> list[Finding]:
    """Every unmonitored thing, in the order the guide (docs/own-application.md) fixes them."""
    out: list[Finding] = []
    out += _phi(conn)
    out += _tenant_columns(conn)
    out += _probe(conn)
    out += _bypass(conn)
    return out


def _phi(conn: Conn) -> list[Finding]:
    if conn.execute("SELECT 1 FROM vigil_monitor.phi_columns LIMIT 1").fetchone() is None:
        return [Finding("no PHI column registered: audit coverage is unknown",
                        "vigil db phi add SCHEMA.TABLE COLUMN (for each PHI column)")]
    rows = conn.execute(
        "SELECT DISTINCT format('%I.%I', p.schema_name, p.table_name) "
        "FROM vigil_monitor.phi_columns p "
        "WHERE NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE "
        "t.tgrelid = to_regclass(format('%I.%I', p.schema_name, p.table_name)) "
        "AND t.tgfoid = 'vigil_monitor.audit_trigger()'::regprocedure AND t.tgenabled <> 'D') "
        "ORDER BY 1").fetchall()
    return [Finding(f"PHI table {r[0]} has no audit trigger: its writes leave no audit row",
                    f"vigil db audit enable {r[0]}") for r in rows]


def _tenant_columns(conn: Conn) -> list[Finding]:
    rows = conn.execute("SELECT format('%I.%I', n.nspname, c.relname) " + _RLS_TABLES +
                        " AND vigil_monitor.tenant_column_of(n.nspname, c.relname) IS NULL "
                        "ORDER BY 1").fetchall()
    return [Finding(f"RLS table {r[0]} has no tenant column: audit rows carry no tenant and "
                    "tenant isolation is not probed on it",
                    f"vigil db tenant-column {r[0]} COLUMN") for r in rows]


def _probe(conn: Conn) -> list[Finding]:
    tenant = conn.execute("SELECT nullif(vigil_monitor.setting('probe_tenant'), '')").fetchone()
    if not tenant or tenant[0] is None:
        n = conn.execute("SELECT count(*) " + _RLS_TABLES).fetchone()
        count = int(str(n[0])) if n else 0
        if count == 0:
            return []
        return [Finding(f"probe tenant unset: none of the {count} RLS tables is measured "
                        "(an empty tenant would read ~0 ms)",
                        "vigil db probe set --tenant TENANT (one with representative data)")]
    from vigil.schema.onboard import tenant_exists

    if not tenant_exists(conn, str(tenant[0])):
        return [Finding(f"probe tenant {tenant[0]} has no row in any RLS table: the probe "
                        "measures an empty tenant (~0 ms)",
                        "vigil db probe set --tenant TENANT (one with representative data)")]
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '1s'")
        rows = conn.execute("SELECT format('%I.%I', schema_name, table_name), error "
                            "FROM vigil_monitor.monitor_rls_overhead(1, 0) "
                            "WHERE avg_overhead_ms IS NULL ORDER BY 1").fetchall()
    out: list[Finding] = []
    for table, error in rows:
        fix = ("vigil db probe set --role ROLE (a role the policy applies to, with its grants) "
               "or vigil db probe query TABLE SQL --column COLUMN"
               if error == "insufficient_privilege" else
               "see docs/own-application.md#probe-tenant-and-queries")
        out.append(Finding(f"RLS table {table} is not measured: {error}",
                           fix.replace("TABLE", str(table))))
    return out


def _bypass(conn: Conn) -> list[Finding]:
    out: list[Finding] = []
    for (role,) in conn.execute(
            # Roles are cluster-wide: only those that can read an RLS table of this database.
            "SELECT r.rolname FROM pg_roles r WHERE r.rolbypassrls AND NOT r.rolsuper "
            "AND r.rolname <> vigil_monitor.setting('probe_bypass_role') "
            "AND EXISTS (SELECT 1 " + _RLS_TABLES +
            " AND has_any_column_privilege(r.oid, c.oid, 'SELECT')) ORDER BY 1").fetchall():
        out.append(Finding(f"role {role} has BYPASSRLS: it sees every tenant's rows",
                           f"ALTER ROLE \"{role}\" NOBYPASSRLS"))
    for table, owner in conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname), pg_get_userbyid(c.relowner) " +
            _RLS_TABLES + " AND NOT c.relforcerowsecurity AND NOT (SELECT rolsuper FROM "
            "pg_roles WHERE oid = c.relowner) ORDER BY 1").fetchall():
        out.append(Finding(f"RLS table {table} is owned by {owner} without FORCE ROW LEVEL "
                           f"SECURITY: {owner} bypasses its policies",
                           f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))
    return out
