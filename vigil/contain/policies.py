"""The restrictive policy that contains actors and tenants on every RLS table.

One policy per table, ``vigil_contain``, derived from the active containments: a contained
actor's reads meet ``vigil_contain.admits`` (schema 014: false, and the refusal recorded in
access_log) and its writes ``vigil_contain.admits_write`` (schema 020: false, and counted in
the containment's sequence, which the failing statement's rollback leaves alone); a
quarantined tenant's rows fail ``tenant_column <> ALL (quarantined)`` both ways. Restrictive
policies are ANDed with the application's own, so nothing becomes visible that wasn't. The
policy's comment holds a hash of the expression the state implies: the verifier proves the
live policy is the one planned, whatever PostgreSQL's deparser makes of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Literal

import psycopg
from psycopg import errors, sql

from vigil.contain.model import POLICY, Step

Conn = psycopg.Connection[Any]


@dataclasses.dataclass(frozen=True)
class Table:
    schema: str
    name: str
    tenant_column: str | None
    forced: bool       # FORCE ROW LEVEL SECURITY: the owner is subject to it too
    owner: str
    has_policy: bool   # vigil_contain exists now

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)


def rls_tables(conn: Conn) -> list[Table]:
    """The application's RLS tables (the ones its policies protect), with their tenant column
    as onboarding registered it (vigil db tenant-column, else a column named tenant_id).
    A table carrying our policy is included even if its RLS was disabled since (mid-incident):
    release and drift must still see, and remove, the policy left on it."""
    rows = conn.execute(
        "SELECT n.nspname, c.relname, vigil_monitor.tenant_column_of(n.nspname, c.relname), "
        "c.relforcerowsecurity, pg_get_userbyid(c.relowner), "
        "EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %(policy)s) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE (c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid "
        "AND p.polname = %(policy)s)) AND c.relkind IN ('r', 'p') "
        "AND n.nspname NOT IN ('vigil_monitor', 'vigil_contain', 'pg_catalog', "
        "'information_schema') ORDER BY 1, 2", {"policy": POLICY}).fetchall()
    return [Table(str(r[0]), str(r[1]), r[2] and str(r[2]), bool(r[3]), str(r[4]), bool(r[5]))
            for r in rows]


def active(conn: Conn) -> tuple[bool, list[str]]:
    """(any actor contained, the quarantined tenants): what the policies must enforce."""
    rows = conn.execute("SELECT kind, target FROM vigil_monitor.containments "
                        "WHERE released_at IS NULL AND kind IN ('actor', 'tenant') "
                        "ORDER BY target").fetchall()
    return (any(r[0] == "actor" for r in rows), [str(r[1]) for r in rows if r[0] == "tenant"])


@dataclasses.dataclass(frozen=True)
class Expressions:
    """The policy's USING (what a query may see) and WITH CHECK (what it may write): the
    same but for the contained-actor call, admits() and admits_write() (schema 020)."""
    using: sql.Composable
    check: sql.Composable


def expression(table: Table, actors: bool, tenants: list[str]) -> Expressions | None:
    """The policy's expressions, or None when nothing applies."""
    if not actors and not (tenants and table.tenant_column):
        return None
    return Expressions(_expr(table, actors, tenants, "admits"),
                       _expr(table, actors, tenants, "admits_write"))


def _expr(table: Table, actors: bool, tenants: list[str],
          check: Literal["admits", "admits_write"]) -> sql.Composable:
    parts: list[sql.Composable] = []
    if actors:
        # A sub-select: an InitPlan, run once per query and table, not once per row. First in
        # the expression: migration 020 finds the call there in a policy made before it.
        parts.append(sql.SQL("(SELECT vigil_contain.{}({}))").format(
            sql.SQL(check), sql.Literal(table.qualified)))
    if tenants and table.tenant_column:
        col = sql.Identifier(table.tenant_column)
        # Text comparison works for any tenant type (text, integer, uuid); rows without a
        # tenant are not any tenant's.
        parts.append(sql.SQL("({0} IS NULL OR {0}::text <> ALL ({1}::text[]))").format(
            col, sql.Literal(sorted(tenants))))
    return sql.SQL(" AND ").join(parts)


def fingerprint(conn: Conn, expr: Expressions) -> str:
    """A hash of USING, hashed again with the name of the write check: WITH CHECK is USING
    with admits_write for admits, so this covers both, and migration 020 can compute it from
    the comment of a policy made before it (``vigil:`` and the inner hash) when it changes
    WITH CHECK. ``vigil:rw:`` tells the two forms apart (020 converts only the old one)."""
    using = "vigil:" + _sha(expr.using.as_string(conn))
    return "vigil:rw:" + _sha(using + " WITH CHECK admits_write")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def steps(conn: Conn, tables: list[Table], actors: bool, tenants: list[str],
          effect: str) -> list[Step]:
    """Statements bringing every table's policy to what (actors, tenants) imply."""
    out: list[Step] = []
    for t in tables:
        expr = expression(t, actors, tenants)
        if expr is None:
            if t.has_policy:
                out.append(Step(sql.SQL("DROP POLICY {} ON {}").format(
                    sql.Identifier(POLICY), t.ident).as_string(conn),
                    f"{t.qualified}: nothing contained there any more; policy removed"))
            continue
        if t.has_policy:
            out.append(Step(sql.SQL("DROP POLICY {} ON {}").format(
                sql.Identifier(POLICY), t.ident).as_string(conn),
                f"{t.qualified}: the policy is re-created below (same transaction)"))
        out.append(Step(sql.SQL("CREATE POLICY {0} ON {1} AS RESTRICTIVE FOR ALL TO PUBLIC "
                                "USING ({2}) WITH CHECK ({3})"
                                ).format(sql.Identifier(POLICY), t.ident, expr.using,
                                         expr.check).as_string(conn),
                        f"{t.qualified}: {effect}"))
        # The comment: the planned hash and the definition as PostgreSQL now stores it
        # (schema 021), so verification catches a later ALTER POLICY that keeps the comment.
        out.append(Step(sql.SQL("SELECT vigil_monitor.seal_contain_policy({}, {})").format(
            sql.Literal(t.ident.as_string(conn)), sql.Literal(fingerprint(conn, expr))
        ).as_string(conn), f"{t.qualified}: seals the policy as planned and as created "
                           "(verified)"))
    return out


SEALED = " live:"   # in the policy's comment: the definition as created (schema 021)


def drift(conn: Conn) -> list[str]:
    """Tables whose live policy is not the one the active containments imply, or was altered
    since vigil created it (a policy made before schema 021 has no seal: its planned hash
    is all there is to compare)."""
    actors, tenants = active(conn)
    bad: list[str] = []
    for t in rls_tables(conn):
        expr = expression(t, actors, tenants)
        row = conn.execute(
            "SELECT p.polpermissive, p.polcmd, p.polroles, "
            "obj_description(p.oid, 'pg_policy'), vigil_monitor.policy_fingerprint(p.oid) "
            "FROM pg_policy p WHERE p.polrelid = to_regclass(%s) AND p.polname = %s",
            (t.ident.as_string(conn), POLICY)).fetchone()
        if expr is None:
            if row is not None:
                bad.append(f"{t.qualified}: policy {POLICY} left behind")
            continue
        if row is None:
            bad.append(f"{t.qualified}: policy {POLICY} missing")
            continue
        planned, _, sealed = str(row[3] or "").partition(SEALED)
        if row[0] or row[1] != "*" or list(row[2]) != [0] or planned != fingerprint(conn, expr):
            bad.append(f"{t.qualified}: policy {POLICY} is not the one planned")
        elif sealed and sealed != row[4]:
            bad.append(f"{t.qualified}: policy {POLICY} was altered after vigil created it "
                       "(ALTER POLICY by the table's owner or a superuser?): treat it as "
                       "tampering; a release and a new contain re-create it")
    return bad


def tenant_has_rows(conn: Conn, table: sql.Composable, column: str, tenant: str) -> bool:
    """Does any row of ``table`` belong to ``tenant`` as the policy sees it (``column::text``)?

    One index probe, not a scan: the tenant is cast to the column's own type so an index on
    the tenant column is usable (``column::text = ...`` alone can use none, and a tenant with
    no row would read the whole table); the text test keeps the policy's meaning exactly."""
    row = conn.execute("SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                       "WHERE a.attrelid = %s::regclass AND a.attname = %s",
                       (table.as_string(conn), column)).fetchone()
    if row is None:
        return False
    col = sql.Identifier(column)
    # format_type's output is the catalog's own, quoted, type name: safe to splice.
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {0} WHERE {1} = %s::{2} AND {1}::text = %s)"
                    ).format(table, col, sql.SQL(str(row[0])))
    try:
        with conn.transaction():   # a savepoint when inside one: the error ends only it
            found = conn.execute(query, (tenant, tenant)).fetchone()
    except errors.DataError:
        return False   # not a value of the column's type: no row can carry it
    return bool(found and found[0])
