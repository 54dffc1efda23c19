"""007_table_labels: the histogram sources carry plain catalog names (schema_name, relname)
beside the quoted table_name, so labels read schema="public", table="Deal" like the RLS gauge."""

from __future__ import annotations

import psycopg
import pytest
from pghelpers import query

from vigil import schema
from vigil.core import pg
from vigil.schema import roles


@pytest.mark.parametrize(("name", "split"), [
    ('public."Deal"', ("public", "Deal")),
    ("public.t", ("public", "t")),
    ('"My Schema"."Odd.""Name"""', ("My Schema", 'Odd."Name"')),
    ("Deal", (None, "Deal")),
    ('"a.b"', (None, "a.b")),
    ("db.public.t", (None, "db.public.t")),      # not one or two identifiers: kept whole
    ('public."broken', (None, 'public."broken')),
])
def test_split_table_name_unquotes_catalog_names(fresh_db: str, name: str,
                                                 split: tuple[str | None, str]) -> None:
    schema.install(fresh_db)
    assert query(fresh_db, "SELECT * FROM vigil_monitor.split_table_name(%s)", (name,)) == [split]


def test_upgrade_fills_old_rows_and_writers_fill_new_ones(fresh_db: str) -> None:
    with pg.connect(fresh_db) as conn:  # the schema as version 006 left it, with rows
        roles.ensure_probe_roles(conn)
        schema.apply_migrations(conn, up_to=6)
        conn.execute("SELECT vigil_monitor.record_phi_access('public.\"Deal\"', 'read', 5, 1)")
        conn.execute("INSERT INTO vigil_monitor.audit_write_metrics (duration, table_name, "
                     "operation) VALUES ('2 ms', 'public.\"Deal\"', 'INSERT')")
    assert schema.install(fresh_db)[0] == 7  # and every later migration
    assert schema.status(fresh_db).ok
    for t in ("phi_access_patterns", "audit_write_metrics"):
        assert query(fresh_db, f"SELECT table_name, schema_name, relname FROM vigil_monitor.{t}"
                     ) == [('public."Deal"', "public", "Deal")]

    with psycopg.connect(fresh_db) as conn:  # new rows: written by the writers themselves
        conn.execute('CREATE TABLE public."Deal" (id int PRIMARY KEY, tenant_id text)')
        conn.execute("INSERT INTO vigil_monitor.phi_columns VALUES ('public', 'Deal', 'id')")
        conn.execute("SELECT vigil_monitor.enable_audit('public.\"Deal\"')")
        conn.execute('INSERT INTO public."Deal" VALUES (1, \'tenant-1\')')
        conn.execute("SELECT vigil_monitor.record_phi_access('Deal', 'read', 5, 1)")
        conn.commit()
    assert query(fresh_db, "SELECT DISTINCT table_name, schema_name, relname "
                 "FROM vigil_monitor.audit_write_metrics ORDER BY 1") == \
        [('public."Deal"', "public", "Deal")]
    assert query(fresh_db, "SELECT table_name, schema_name, relname "
                 "FROM vigil_monitor.phi_access_patterns ORDER BY id") == \
        [('public."Deal"', "public", "Deal"), ("Deal", None, "Deal")]
    assert schema.install(fresh_db) == []
