"""Cluster-global roles and the GRANT script.

Roles are shared by every database of the cluster and tests install into many databases at
once, so every role statement tolerates a concurrent twin (duplicate role, concurrent
catalog update) by retrying.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import psycopg
from psycopg import errors, sql

from vigil.schema.contract import (
    APP_FUNCTIONS,
    MAINTAIN_FUNCTIONS,
    PROBE_BYPASS_ROLE,
    PROBE_RLS_ROLE,
    READ_FUNCTIONS,
    READ_TABLES,
    SCHEMA,
    SEALER_FUNCTIONS,
    SEALER_TABLE_GRANTS,
)

_RACES = (errors.DuplicateObject, errors.UniqueViolation, errors.InternalError_,
          errors.SerializationFailure)


def _retry(conn: psycopg.Connection[tuple[object, ...]], stmt: sql.Composed) -> None:
    for attempt in range(8):
        try:
            with conn.transaction():
                conn.execute(stmt)
            return
        except _RACES:
            # A twin in another database created the same role or membership first.
            time.sleep(0.05 * (attempt + 1))
    conn.execute(stmt)


def ensure_role(conn: psycopg.Connection[tuple[object, ...]], name: str, attrs: str) -> None:
    """Create ``name`` with ``attrs`` (a fixed keyword list) unless it exists."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    if exists:
        return
    stmt = sql.SQL("CREATE ROLE {} " + attrs).format(sql.Identifier(name))
    try:
        with conn.transaction():
            conn.execute(stmt)
    except _RACES:
        pass  # created concurrently by a twin install


def ensure_probe_roles(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    # INHERIT: the RLS probe role is made a member of the roles the policies name (011), and
    # a policy applies to a member only through inheritance.
    ensure_role(conn, PROBE_RLS_ROLE, "NOLOGIN NOBYPASSRLS INHERIT")
    ensure_role(conn, PROBE_BYPASS_ROLE, "NOLOGIN BYPASSRLS NOINHERIT")


def _is_member(conn: psycopg.Connection[tuple[object, ...]], member: str, group: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = %s AND u.rolname = %s",
        (group, member)).fetchone()
    return row is not None


def membership_grants(role: str) -> list[tuple[str, sql.Composed]]:
    ident = sql.Identifier(role)
    return [(group, sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), ident))
            for group in ("pg_monitor",)]


def _grants(role: str, tables: Iterable[tuple[str, str]] = (),
            functions: Iterable[str] = ()) -> list[sql.Composed]:
    """USAGE on the schema, then each (table, privileges), then EXECUTE on each function."""
    ident = sql.Identifier(role)
    schema = sql.Identifier(SCHEMA)
    stmts: list[sql.Composed] = [sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, ident)]
    for table, privs in tables:
        stmts.append(sql.SQL("GRANT " + privs + " ON {}.{} TO {}").format(
            schema, sql.Identifier(table), ident))
    for fn in functions:
        stmts.append(sql.SQL("GRANT EXECUTE ON FUNCTION {}.").format(schema)
                     + sql.SQL(fn) + sql.SQL(" TO {}").format(ident))
    return stmts


def _apply(conn: psycopg.Connection[tuple[object, ...]], stmts: list[sql.Composed]) -> None:
    with conn.transaction():
        for stmt in stmts:
            conn.execute(stmt)


def object_grants(role: str) -> list[sql.Composed]:
    """Database-local grants for a monitoring role: read-only, no PHI anywhere."""
    return _grants(role, [(table, "SELECT") for table in READ_TABLES], READ_FUNCTIONS)


def app_grants(role: str) -> list[sql.Composed]:
    return _grants(role, functions=APP_FUNCTIONS)


def maintainer_grants(role: str) -> list[sql.Composed]:
    """Least privilege for ``vigil db maintain``: schema usage and the maintenance functions
    (SECURITY DEFINER: they do the reads and deletes, the role has no table privilege)."""
    return _grants(role, functions=MAINTAIN_FUNCTIONS)


def apply_maintainer_grants(conn: psycopg.Connection[tuple[object, ...]], role: str) -> None:
    _apply(conn, maintainer_grants(role))


def grants_script(role: str, conn: psycopg.Connection[tuple[object, ...]] | None = None) -> str:
    """The GRANT script for a monitoring role, as text (``vigil db grants --print``)."""
    stmts = [s for _, s in membership_grants(role)] + object_grants(role)
    return "\n".join(s.as_string(conn) + ";" for s in stmts) + "\n"


def apply_monitor_grants(conn: psycopg.Connection[tuple[object, ...]], role: str) -> None:
    for group, stmt in membership_grants(role):
        if not _is_member(conn, role, group):
            _retry(conn, stmt)
    _apply(conn, object_grants(role))


def apply_app_grants(conn: psycopg.Connection[tuple[object, ...]], role: str) -> None:
    _apply(conn, app_grants(role))


def sealer_grants(role: str) -> list[sql.Composed]:
    """The audit sealer's grants: no UPDATE anywhere, DELETE only on the buffer (and a trigger
    there refuses rows that are not sealed yet)."""
    return _grants(role, SEALER_TABLE_GRANTS, SEALER_FUNCTIONS)


def apply_sealer_grants(conn: psycopg.Connection[tuple[object, ...]], role: str) -> None:
    _apply(conn, sealer_grants(role))
