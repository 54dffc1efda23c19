"""Tenant isolation, tried as each application role (``SET ROLE``) on each tenant table.

For a table with rows of two tenants A and B (ids read past RLS by the administrator):
as the role with the session tenant A, no row of another tenant is visible; B's rows cannot
be updated or deleted and a row for B cannot be inserted; and with no tenant set (never set,
then set empty) nothing is visible. Reads fetch at most one marker (never a column value);
writes are stopped before any row is stored (``writeprobe``), inside a transaction that is
rolled back, so nothing is ever visible to the application.
"""

from __future__ import annotations

import psycopg
from psycopg import errors, sql

from vigil.core import pg
from vigil.security import writeprobe
from vigil.security.result import SecurityTest, failed, passed, unexamined
from vigil.security.scope import Conn, TenantTable

INVISIBLE = "Tenant isolation: other tenants' rows invisible"
UNWRITABLE = "Tenant isolation: other tenants' rows unwritable"
UNSET = "Tenant isolation: unset tenant sees nothing"
_TENANT = "app.current_tenant_id"


def two_tenants(conn: Conn, t: TenantTable, prefer: str | None) -> tuple[str, str] | None:
    """Two tenant ids with rows in ``t`` (as the administrator), the probe tenant first."""
    col = sql.Identifier(str(t.tenant_column))
    table = sql.SQL(t.name)  # from format('%I.%I') in the catalog query: already quoted
    first = None
    if prefer:
        row = conn.execute(sql.SQL("SELECT {c}::text FROM {t} WHERE {c}::text = %s LIMIT 1")
                           .format(c=col, t=table), (prefer,)).fetchone()
        first = str(row[0]) if row else None
    if first is None:
        row = conn.execute(sql.SQL("SELECT {c}::text FROM {t} WHERE {c} IS NOT NULL LIMIT 1")
                           .format(c=col, t=table)).fetchone()
        first = str(row[0]) if row else None
    if first is None:
        return None
    row = conn.execute(sql.SQL("SELECT {c}::text FROM {t} WHERE {c} IS NOT NULL "
                               "AND {c}::text <> %s LIMIT 1").format(c=col, t=table),
                       (first,)).fetchone()
    return (first, str(row[0])) if row else None


def try_table(conn: Conn, dsn: str, role: str, t: TenantTable,
               tenants: tuple[str, str]) -> list[SecurityTest]:
    """``conn`` is an administrator session; the unset-tenant test opens its own from ``dsn``,
    one that has never set the tenant (the state of a forgetful application connection)."""
    a, b = tenants
    subject = f"{role} on {t.name}"
    col = sql.Identifier(str(t.tenant_column))
    table = sql.SQL(t.name)  # from format('%I.%I') in the catalog query: already quoted
    as_role = sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role))
    out: list[SecurityTest] = []
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(as_role)
            conn.execute("SELECT set_config(%s, %s, true)", (_TENANT, a))
            out.append(_invisible(conn, subject, table, col, a))
            out += _unwritable(conn, subject, t, a, b)
        with pg.connect(dsn, autocommit=False, application_name="vigil-security-test") as fresh:
            fresh.execute("SET lock_timeout = '2s'")
            fresh.execute(as_role)
            out.append(_unset(fresh, subject, table))
            fresh.rollback()
    except errors.InsufficientPrivilege:
        out.append(unexamined(INVISIBLE, subject, f"SET ROLE {role}",
                              "this login may not become the role (connect as a superuser)"))
    except errors.LockNotAvailable:
        out.append(unexamined(INVISIBLE, subject, "to read the table",
                              "the table was locked (lock_timeout)"))
    return out


def _first_row(conn: Conn, query: sql.Composed, params: tuple[str, ...] = ()
               ) -> bool | None:
    """True when the query returns a row, None when the role may not read the table."""
    try:
        with conn.transaction():
            return conn.execute(query, params).fetchone() is not None
    except errors.InsufficientPrivilege:
        return None


def _invisible(conn: Conn, subject: str, table: sql.Composable, col: sql.Composable,
               a: str) -> SecurityTest:
    tried = f"SELECT rows whose tenant is not {a} with the session tenant set to {a}"
    found = _first_row(conn, sql.SQL("SELECT 1 FROM {} WHERE {}::text IS DISTINCT FROM %s "
                                     "LIMIT 1").format(table, col), (a,))
    if found is None:
        return passed(INVISIBLE, subject, tried, "refused: the role may not read the table")
    if found:
        return failed(INVISIBLE, subject, tried, "a row of another tenant was returned")
    own = _first_row(conn, sql.SQL("SELECT 1 FROM {} WHERE {}::text = %s LIMIT 1")
                     .format(table, col), (a,))
    return passed(INVISIBLE, subject, tried, "no row of another tenant returned"
                  + ("" if own else " (and none of its own: the role sees nothing)"))


def _unwritable(conn: Conn, subject: str, t: TenantTable, a: str, b: str
                ) -> list[SecurityTest]:
    out = []
    for verb in ("UPDATE", "DELETE"):
        tried = (f"{verb} of tenant {b}'s rows with the session tenant {a} (stopped before "
                 "any row is written)")
        try:
            reached = writeprobe.reaches(conn, verb, t, b)
        except errors.InsufficientPrivilege:
            out.append(passed(UNWRITABLE, subject, tried, "refused (insufficient_privilege)"))
            continue
        except psycopg.Error as exc:  # the type only: a message may quote a value
            out.append(unexamined(UNWRITABLE, subject, tried, type(exc).__name__))
            continue
        out.append(failed(UNWRITABLE, subject, tried, f"tenant {b}'s rows reached the {verb}")
                   if reached else passed(UNWRITABLE, subject, tried, "no row reached"))
    tried = f"INSERT of a row for tenant {b} with the session tenant {a} (never stored)"
    verdict, why = writeprobe.insert(conn, t, b)
    if verdict == "refused":
        out.append(passed(UNWRITABLE, subject, tried, f"refused ({why})"))
    elif verdict == "admitted":
        out.append(failed(UNWRITABLE, subject, tried, f"the policies admitted the row ({why})"))
    else:
        out.append(unexamined(UNWRITABLE, subject, tried, "the insert failed before the "
                              f"policies were checked ({why})"))
    return out


def _unset(conn: Conn, subject: str, table: sql.Composable) -> SecurityTest:
    tried = "SELECT any row with the tenant never set, then set empty"
    seen = []
    for label, value in (("never set", None), ("empty", "")):
        if value is not None:
            conn.execute("SELECT set_config(%s, %s, true)", (_TENANT, value))
        found = _first_row(conn, sql.SQL("SELECT 1 FROM {} LIMIT 1").format(table))
        if found is None:
            return passed(UNSET, subject, tried, "refused: the role may not read the table")
        if found:
            seen.append(label)
    if seen:
        return failed(UNSET, subject, tried, "rows visible with the tenant " + " and ".join(seen))
    return passed(UNSET, subject, tried, "no row visible")
