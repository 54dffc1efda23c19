"""What the security test works on, read from the catalog and the onboarding registry (011).

* Tenant tables: every table with RLS on, a policy, a registered tenant column or a controls
  baseline (012), so a table whose RLS was switched off is still tested, not skipped; its
  tenant column (any name, any type) comes from ``tenant_column_of``.
* Application roles: the roles explicitly granted a privilege on a tenant table, the roles
  its policies name, and any given with ``--app-role``; never vigil's own probe roles.
* Monitoring roles: the logins that may run the read functions (``vigil db grants``). Tried
  as themselves, so whatever they inherit or could SET ROLE to counts. The probe roles are
  not among them: NOLOGIN, with no member, they only run the administrator's probe queries
  (and the RLS one inherits the application role's grants by design, to see what it sees).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from vigil.schema.contract import PROBE_BYPASS_ROLE, PROBE_RLS_ROLE

Conn = psycopg.Connection[tuple[object, ...]]

_TABLES = """
SELECT c.oid::bigint, format('%I.%I', n.nspname, c.relname),
       vigil_monitor.tenant_column_of(n.nspname, c.relname),
       c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('vigil_monitor', 'pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
  AND (c.relrowsecurity
       OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
       OR EXISTS (SELECT 1 FROM vigil_monitor.tenant_columns t
                  WHERE t.schema_name = n.nspname AND t.table_name = c.relname)
       OR EXISTS (SELECT 1 FROM vigil_monitor.control_baseline b
                  WHERE b.schema_name = n.nspname AND b.table_name = c.relname))
ORDER BY 2
"""

_APP_ROLES = """
SELECT DISTINCT r.rolname::text FROM pg_class c, aclexplode(c.relacl) a
JOIN pg_roles r ON r.oid = a.grantee
WHERE c.oid = ANY (%(oids)s::oid[]) AND a.grantee <> c.relowner
UNION
SELECT DISTINCT r.rolname::text FROM pg_policy p JOIN pg_roles r ON r.oid = ANY (p.polroles)
WHERE p.polrelid = ANY (%(oids)s::oid[])
"""

_MONITOR_ROLES = """
SELECT DISTINCT pg_get_userbyid(a.grantee)::text FROM pg_proc p, aclexplode(p.proacl) a
WHERE p.oid = 'vigil_monitor.security_access_metrics()'::regprocedure
  AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
"""


@dataclass(frozen=True)
class TenantTable:
    oid: int
    name: str                 # schema.table, quoted as needed
    tenant_column: str | None
    rls_enabled: bool
    rls_forced: bool
    owner: str


@dataclass(frozen=True)
class PhiColumn:
    table: str
    column: str


@dataclass(frozen=True)
class Scope:
    tables: tuple[TenantTable, ...]
    app_roles: tuple[str, ...]
    monitor_roles: tuple[str, ...]
    phi_columns: tuple[PhiColumn, ...]


def read(conn: Conn, extra_app_roles: tuple[str, ...] = ()) -> Scope:
    tables = tuple(TenantTable(int(str(r[0])), str(r[1]), None if r[2] is None else str(r[2]),
                               bool(r[3]), bool(r[4]), str(r[5]))
                   for r in conn.execute(_TABLES.encode()).fetchall())
    oids = [t.oid for t in tables]
    vigil_roles = {PROBE_RLS_ROLE, PROBE_BYPASS_ROLE}
    found = {str(r[0]) for r in conn.execute(_APP_ROLES.encode(), {"oids": oids})}
    app = sorted((found | set(extra_app_roles)) - vigil_roles)
    monitors = {str(r[0]) for r in conn.execute(_MONITOR_ROLES.encode())}
    monitor_roles = sorted(monitors - set(app) - vigil_roles)
    phi = tuple(PhiColumn(str(r[0]), str(r[1])) for r in conn.execute(
        "SELECT format('%I.%I', schema_name, table_name), column_name "
        "FROM vigil_monitor.phi_columns "
        "WHERE to_regclass(format('%I.%I', schema_name, table_name)) IS NOT NULL "
        "ORDER BY 1, 2"))
    return Scope(tables, tuple(app), tuple(monitor_roles), phi)
