"""Write probes that never write: they stop each statement after the policies decided and
before the row is stored, so a broken policy is found without a single row written (nor
counted by PostgreSQL's statistics, which the unaudited-writes control compares with the
audit; a rolled-back write would still count there).

* UPDATE and DELETE carry a qual that divides by zero on the first row reaching it. Row
  level security's quals are security barriers, evaluated before that non-leakproof qual, so
  the error means "a row passed the policies", and comes before the row is written.
* INSERT sets a NOT NULL column to NULL: PostgreSQL checks the policies' WITH CHECK before
  constraints, so a not-null violation means "the policies admitted the row", and comes before
  the row is stored.
"""

from __future__ import annotations

from typing import Literal

import psycopg
from psycopg import errors, sql

from vigil.security.scope import Conn, TenantTable

Verdict = Literal["refused", "admitted", "unknown"]


def reaches(conn: Conn, verb: Literal["UPDATE", "DELETE"], t: TenantTable,
            tenant: str) -> bool:
    """Would ``verb`` of ``tenant``'s rows touch one? InsufficientPrivilege propagates."""
    col = sql.Identifier(str(t.tenant_column))
    stop = sql.SQL("{c}::text = %s AND 1 / (length({c}::text) * 0) = 1").format(c=col)
    stmt = (sql.SQL("UPDATE {t} SET {c} = {c} WHERE {w}") if verb == "UPDATE"
            else sql.SQL("DELETE FROM {t} WHERE {w}")).format(t=sql.SQL(t.name), c=col, w=stop)
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(stmt, (tenant,))
    except errors.DivisionByZero:
        return True
    return False


def insert(conn: Conn, t: TenantTable, tenant: str) -> tuple[Verdict, str]:
    """Insert a row for ``tenant``: refused by the policies (or privileges), admitted, or
    unknown (failed before the policies were checked). The second item names why."""
    type_name, null_col = _columns(conn, t)
    cols = [sql.Identifier(str(t.tenant_column))]
    values: list[sql.Composable] = [sql.SQL("%s::text::{}").format(sql.SQL(type_name))]
    if null_col is not None:
        cols.append(sql.Identifier(null_col))
        values.append(sql.SQL("NULL"))
    stmt = sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {}").format(
        sql.SQL(t.name), sql.SQL(", ").join(cols), sql.SQL(", ").join(values))
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(stmt, (tenant,))
    except errors.InsufficientPrivilege:
        return "refused", "insufficient_privilege"
    except errors.IntegrityError as exc:
        # Constraints come after the policies: they admitted it.
        return "admitted", type(exc).__name__
    except psycopg.Error as exc:   # the type only: a message may quote a value
        return "unknown", type(exc).__name__
    return "admitted", "stored (rolled back)"


def _columns(conn: Conn, t: TenantTable) -> tuple[str, str | None]:
    """The tenant column's type (from the catalog: a type name, never input), and a NOT NULL
    column to set to NULL (the primary key's first), if the table has one."""
    row = conn.execute(
        "SELECT format_type(a.atttypid, a.atttypmod), "
        "(SELECT n.attname FROM pg_attribute n WHERE n.attrelid = a.attrelid AND n.attnum > 0 "
        " AND NOT n.attisdropped AND n.attnotnull AND n.attgenerated = '' "
        " AND n.attname <> a.attname ORDER BY n.attnum = ANY (coalesce((SELECT i.indkey::int2[] "
        " FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary), '{}')) DESC, "
        " n.attnum LIMIT 1) "
        "FROM pg_attribute a WHERE a.attrelid = %s::oid AND a.attname = %s",
        (t.oid, t.tenant_column)).fetchone()
    if row is None:
        return "text", None
    return str(row[0]), None if row[1] is None else str(row[1])
