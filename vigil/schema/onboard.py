"""Onboarding an application: PHI and tenant columns, audit, probe settings (issue #9).

Each function is idempotent, runs as the admin DSN (the functions it calls are the admin's
only, migration 011) and returns a sentence saying what changed, or that nothing had to.
"""

from __future__ import annotations

import psycopg
from psycopg import errors

from vigil.core import pg
from vigil.core.errors import VigilError
from vigil.schema import roles

Conn = psycopg.Connection[tuple[object, ...]]


def _regclass(conn: Conn, table: str) -> str:
    """The table's canonical name (``clinic.patients``); a clear error if it does not exist."""
    try:
        row = conn.execute("SELECT to_regclass(%s)::text", (table,)).fetchone()
    except (errors.InvalidName, errors.SyntaxError):
        row = None
    if not row or row[0] is None:
        raise VigilError(f"table {table} does not exist (write it as schema.table)") from None
    return str(row[0])


def _has_column(conn: Conn, table: str, column: str) -> None:
    row = conn.execute("SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass "
                       "AND attname = %s AND attnum > 0 AND NOT attisdropped",
                       (table, column)).fetchone()
    if row is None:
        raise VigilError(f"column {column} does not exist on {table}")


def _split(conn: Conn, table: str) -> tuple[str, str]:
    row = conn.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                       "ON n.oid = c.relnamespace WHERE c.oid = %s::regclass", (table,)).fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def phi(dsn: str, action: str, table: str, column: str) -> str:
    with pg.connect(dsn) as conn:
        rel = _regclass(conn, table)
        s, t = _split(conn, rel)
        had = conn.execute("SELECT 1 FROM vigil_monitor.phi_columns WHERE schema_name = %s "
                           "AND table_name = %s AND column_name = %s", (s, t, column)).fetchone()
        if action == "add":
            _has_column(conn, rel, column)
            conn.execute("SELECT vigil_monitor.register_phi_column(%s::regclass, %s)",
                         (rel, column))
            return (f"{rel}.{column}: already registered as PHI" if had else
                    f"{rel}.{column}: registered as PHI (probe roles can no longer read it)")
        conn.execute("SELECT vigil_monitor.unregister_phi_column(%s::regclass, %s)", (rel, column))
        return (f"{rel}.{column}: no longer registered as PHI" if had else
                f"{rel}.{column}: was not registered as PHI, nothing to do")


def primary_key(conn: Conn, rel: str) -> str | None:
    rows = conn.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON "
                        "a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
                        "WHERE i.indrelid = %s::regclass AND i.indisprimary", (rel,)).fetchall()
    return str(rows[0][0]) if len(rows) == 1 else None


def audit(dsn: str, action: str, table: str, pk: str | None) -> str:
    with pg.connect(dsn) as conn:
        rel = _regclass(conn, table)
        if action == "disable":
            row = conn.execute("SELECT vigil_monitor.disable_audit(%s::regclass)",
                               (rel,)).fetchone()
            return (f"{rel}: audit trigger removed" if row and row[0]
                    else f"{rel}: was not audited, nothing to do")
        column = pk or primary_key(conn, rel)
        if column is None:
            raise VigilError(f"{rel} has no single-column primary key: "
                             "name the column that identifies a row with --pk COLUMN")
        _has_column(conn, rel, column)
        had = conn.execute("SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass "
                           "AND tgname = 'vigil_audit'", (rel,)).fetchone()
        conn.execute("SELECT vigil_monitor.enable_audit(%s::regclass, %s)", (rel, column))
        return (f"{rel}: audit trigger in place (rows identified by {column})" if had else
                f"{rel}: audit trigger added (rows identified by {column})")


def tenant_column(dsn: str, table: str, column: str) -> str:
    with pg.connect(dsn) as conn:
        rel = _regclass(conn, table)
        _has_column(conn, rel, column)
        s, t = _split(conn, rel)
        had = conn.execute("SELECT column_name FROM vigil_monitor.tenant_columns "
                           "WHERE schema_name = %s AND table_name = %s", (s, t)).fetchone()
        conn.execute("SELECT vigil_monitor.register_tenant_column(%s::regclass, %s)",
                     (rel, column))
        if had and had[0] == column:
            return f"{rel}: tenant column already {column}"
        return f"{rel}: tenant column is now {column}"


def grant_app(dsn: str, role: str) -> str:
    with pg.connect(dsn) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            raise VigilError(f"role {role} does not exist: create the application role first")
        roles.apply_app_grants(conn, role)
        conn.execute("SELECT vigil_monitor.refresh_probe_grants()")
    return (f"granted {role} EXECUTE on the record_* functions "
            "(and nothing of the admin functions)")


def probe_set(dsn: str, tenant: str | None, probe_roles: list[str] | None) -> list[str]:
    out: list[str] = []
    with pg.connect(dsn) as conn:
        if tenant is not None:
            if tenant and not tenant_exists(conn, tenant):
                raise VigilError(f"tenant {tenant} has no row in any RLS table with a tenant "
                                 "column: pick a tenant with representative data")
            conn.execute("UPDATE vigil_monitor.settings SET value = nullif(%s, '') "
                         "WHERE key = 'probe_tenant'", (tenant,))
            out.append(f"probe tenant: {tenant or 'unset'}")
        if probe_roles is not None:
            for role in probe_roles:
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                (role,)).fetchone() is None:
                    raise VigilError(f"role {role} does not exist")
            value = ",".join(probe_roles) or None
            conn.execute("UPDATE vigil_monitor.settings SET value = %s WHERE key = 'probe_roles'",
                         (value,))
            out.append(f"probe roles: {value or 'the roles named in the policies'}")
        conn.execute("SELECT vigil_monitor.refresh_probe_grants()")
        names = [str(r[0]) for r in conn.execute(
            "SELECT * FROM vigil_monitor.probe_policy_roles() ORDER BY 1")]
        out.append(f"the RLS probe runs as: {', '.join(names) or 'PUBLIC policies only'}")
    return out


def tenant_exists(conn: Conn, tenant: str) -> bool:
    """Whether any RLS table with a tenant column has a row of ``tenant`` (as text)."""
    tables = conn.execute(
        "SELECT c.oid::regclass::text, vigil_monitor.tenant_column_of(n.nspname, c.relname) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relrowsecurity AND c.relkind IN ('r', 'p') "
        "AND n.nspname NOT IN ('vigil_monitor', 'pg_catalog', 'information_schema')").fetchall()
    for rel, column in tables:
        if column is None:
            continue
        found = conn.execute(psycopg.sql.SQL("SELECT 1 FROM {} WHERE {}::text = %s LIMIT 1").format(
            psycopg.sql.SQL(str(rel)), psycopg.sql.Identifier(str(column))), (tenant,)).fetchone()
        if found:
            return True
    return False


def probe_query(dsn: str, table: str, query: str | None, columns: list[str]) -> list[str]:
    with pg.connect(dsn) as conn:
        rel = _regclass(conn, table)
        s, t = _split(conn, rel)
        for column in columns:
            _has_column(conn, rel, column)
        with conn.transaction():
            if query is None:
                conn.execute("DELETE FROM vigil_monitor.rls_probe_queries "
                             "WHERE schema_name = %s AND table_name = %s", (s, t))
                conn.execute("DELETE FROM vigil_monitor.probe_columns "
                             "WHERE schema_name = %s AND table_name = %s", (s, t))
            else:
                conn.execute("INSERT INTO vigil_monitor.rls_probe_queries VALUES (%s, %s, %s) "
                             "ON CONFLICT (schema_name, table_name) DO UPDATE "
                             "SET query = EXCLUDED.query", (s, t, query))
                for column in columns:
                    conn.execute("INSERT INTO vigil_monitor.probe_columns VALUES (%s, %s, %s) "
                                 "ON CONFLICT DO NOTHING", (s, t, column))
            conn.execute("SELECT vigil_monitor.refresh_probe_grants()")
    if query is None:
        return [f"{rel}: probe query back to the default (rls_default_query)"]
    extra = f"; probe roles may also read {', '.join(columns)}" if columns else ""
    return [f"{rel}: probe query set{extra}"]
