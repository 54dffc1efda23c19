"""The database objects an alert names, looked up in the monitored database's catalog.

``vigil alert context`` shows, for the alert's ``schema``/``table``, ``policy``, ``role`` and
``index`` labels: does the object exist, is row-level security enabled and forced on the
table, which policies it has (name, command, permissive or restrictive, roles), can the role
log in or bypass RLS. Only the catalog is read (pg_class, pg_policies, pg_roles), in a
read-only transaction: no table data, nothing the monitoring login can't see.
"""

from __future__ import annotations

from typing import Any

import psycopg

from vigil.core import pg
from vigil.core.errors import VigilError

_TABLE = """
SELECT n.nspname, c.relname, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = %(table)s AND (%(schema)s::text IS NULL OR n.nspname = %(schema)s)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY n.nspname = 'public' DESC, n.nspname LIMIT 1"""
_POLICIES = """
SELECT policyname, cmd, permissive, roles::text[] FROM pg_policies
WHERE schemaname = %s AND tablename = %s ORDER BY policyname"""
_POLICY = """
SELECT schemaname, tablename, cmd, permissive, roles::text[] FROM pg_policies
WHERE policyname = %(policy)s AND (%(table)s::text IS NULL OR tablename = %(table)s)
  AND (%(schema)s::text IS NULL OR schemaname = %(schema)s)
ORDER BY schemaname, tablename"""
_ROLE = "SELECT rolcanlogin, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s"
_INDEX = """
SELECT n.nspname, i.indisvalid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index i ON i.indexrelid = c.oid
WHERE c.relname = %(index)s AND (%(schema)s::text IS NULL OR n.nspname = %(schema)s)
ORDER BY n.nspname LIMIT 1"""
NAMING_LABELS = ("schema", "table", "policy", "role", "index")


def _policies(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{"name": r[0], "command": r[1], "permissive": r[2], "roles": list(r[3])}
            for r in rows]


def _lookup(conn: psycopg.Connection[Any], labels: dict[str, str]) -> list[dict[str, Any]]:
    schema, table = labels.get("schema"), labels.get("table")
    out: list[dict[str, Any]] = []
    if table:
        row = conn.execute(_TABLE, {"table": table, "schema": schema}).fetchone()
        obj: dict[str, Any] = {"kind": "table", "name": f"{schema}.{table}" if schema
                               else table, "exists": row is not None}
        if row is not None:
            obj.update(name=f"{row[0]}.{row[1]}", relkind=row[2], rls_enabled=row[3],
                       rls_forced=row[4], policies=_policies(
                           conn.execute(_POLICIES, (row[0], row[1])).fetchall()))
        out.append(obj)
    elif schema:
        row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        out.append({"kind": "schema", "name": schema, "exists": row is not None})
    if labels.get("policy"):
        rows = conn.execute(_POLICY, {"policy": labels["policy"], "table": table,
                                      "schema": schema}).fetchall()
        out.append({"kind": "policy", "name": labels["policy"], "exists": bool(rows),
                    "on": [{"table": f"{r[0]}.{r[1]}", "command": r[2], "permissive": r[3],
                            "roles": list(r[4])} for r in rows]})
    if labels.get("role"):
        row = conn.execute(_ROLE, (labels["role"],)).fetchone()
        obj = {"kind": "role", "name": labels["role"], "exists": row is not None}
        if row is not None:
            obj.update(can_login=row[0], superuser=row[1], bypass_rls=row[2])
        out.append(obj)
    if labels.get("index"):
        row = conn.execute(_INDEX, {"index": labels["index"], "schema": schema}).fetchone()
        obj = {"kind": "index", "name": labels["index"], "exists": row is not None}
        if row is not None:
            obj.update(name=f"{row[0]}.{labels['index']}", valid=row[1])
        out.append(obj)
    return out


def lookup(dsn: str, labels: dict[str, str]) -> dict[str, Any]:
    """The ``database`` section of the context: ``status`` ok, none (the alert names no
    object) or unavailable (with ``error``), the database's name and the objects."""
    if not any(labels.get(k) for k in NAMING_LABELS):
        return {"status": "none", "objects": []}
    try:
        name = pg.dbname_of(dsn)
        with pg.connect(dsn, autocommit=False, application_name="vigil-alert-context") as conn:
            conn.read_only = True
            objects = _lookup(conn, labels)
            conn.rollback()
    except (VigilError, psycopg.Error) as exc:
        # The class only for a driver error: its message can quote a statement.
        reason = str(exc) if isinstance(exc, VigilError) else type(exc).__name__
        return {"status": "unavailable", "error": reason, "objects": []}
    return {"status": "ok", "database": name, "objects": objects}
