"""What the database looks like at collection time, as JSON-ready rows, never a value of PHI.

Sessions come from pg_stat_activity WITHOUT ``query`` (its text carries literal values); roles
without passwords; policies as their catalog definitions; settings only the security-relevant
ones. Each function is one catalog query: cheap whatever the size of the data.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

Conn = psycopg.Connection[Any]

# The GUCs that decide who may connect, what is logged and whether RLS and triggers apply.
SECURITY_SETTINGS = (
    "listen_addresses", "ssl", "ssl_min_protocol_version", "password_encryption",
    "authentication_timeout", "row_security", "session_replication_role",
    "shared_preload_libraries", "log_connections", "log_disconnections", "log_statement",
    "log_min_duration_statement", "log_line_prefix", "idle_in_transaction_session_timeout",
    "statement_timeout", "default_transaction_read_only", "track_activities",
)

_SESSIONS = """
SELECT pid, datname, usename AS role, application_name, client_addr::text AS client_addr,
       backend_start, xact_start, state_change, state, backend_type, wait_event_type
FROM pg_stat_activity ORDER BY pid
"""
_ROLES = """
SELECT r.rolname AS role, r.rolsuper AS superuser, r.rolinherit AS inherit,
       r.rolcreaterole AS createrole, r.rolcreatedb AS createdb, r.rolcanlogin AS login,
       r.rolreplication AS replication, r.rolbypassrls AS bypassrls,
       r.rolconnlimit AS connection_limit, r.rolvaliduntil AS valid_until,
       ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
             WHERE m.member = r.oid ORDER BY 1) AS member_of
FROM pg_roles r WHERE r.rolname !~ '^pg_' ORDER BY r.rolname
"""
_GRANTS = """
SELECT kind, name, detail AS privileges FROM vigil_monitor.privilege_snapshot()
WHERE kind = 'grant'
UNION ALL
SELECT 'column grant', format('%s on %I.%I (%I)', grantee, table_schema, table_name,
                              column_name),
       string_agg(privilege_type, ',' ORDER BY privilege_type)
FROM information_schema.column_privileges
WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
GROUP BY grantee, table_schema, table_name, column_name
ORDER BY 1, 2
"""
_POLICIES = """
SELECT schemaname, tablename, policyname, permissive, roles::text[] AS roles, cmd, qual,
       with_check
FROM pg_policies ORDER BY schemaname, tablename, policyname
"""
_RLS_TABLES = """
SELECT n.nspname AS schema, c.relname AS table, c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced, pg_get_userbyid(c.relowner) AS owner
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND (c.relrowsecurity OR EXISTS (
    SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))
ORDER BY 1, 2
"""
_SETTINGS = """
SELECT name, setting, source FROM pg_settings
WHERE name = ANY (%(names)s) OR name LIKE 'pgaudit.%%' ORDER BY name
"""
_VIGIL_SETTINGS = "SELECT key, value FROM vigil_monitor.settings ORDER BY key"
_CHAIN_HEAD = """
SELECT id AS seq, row_hash, hash_alg, logged_at, sealed_at
FROM vigil_monitor.audit_log ORDER BY id DESC LIMIT 1
"""
_CHAIN_STATUS = "SELECT * FROM vigil_monitor.audit_chain_status()"
_BUFFER = "SELECT * FROM vigil_monitor.audit_buffer_status()"


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _rows(conn: Conn, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    return [{k: _json(v) for k, v in row.items()} for row in rows]


def sessions(conn: Conn) -> list[dict[str, Any]]:
    return _rows(conn, _SESSIONS)


def roles(conn: Conn) -> list[dict[str, Any]]:
    return _rows(conn, _ROLES)


def grants(conn: Conn) -> list[dict[str, Any]]:
    return _rows(conn, _GRANTS)


def policies(conn: Conn) -> dict[str, Any]:
    return {"tables": _rows(conn, _RLS_TABLES), "policies": _rows(conn, _POLICIES)}


def settings(conn: Conn) -> dict[str, Any]:
    return {"postgresql": _rows(conn, _SETTINGS, {"names": list(SECURITY_SETTINGS)}),
            "vigil_monitor": _rows(conn, _VIGIL_SETTINGS)}


def chain_head(conn: Conn) -> dict[str, Any]:
    head = _rows(conn, _CHAIN_HEAD)
    return {"head": head[0] if head else None, "status": _rows(conn, _CHAIN_STATUS)[0],
            "buffer": _rows(conn, _BUFFER)[0]}
