"""Audit rows take their tenant from the table's tenant column, any name and type (#9 item 4)."""

from __future__ import annotations

from pghelpers import query

from vigil import cli, schema
from vigil.core import pg


def test_tenant_of_each_type_and_an_old_trigger_without_its_key_column(fresh_db: str) -> None:
    schema.install(fresh_db, exporter_role=None, sealer_role=None, maintainer_role=None)
    with pg.connect(fresh_db) as conn:
        conn.execute("CREATE TABLE public.by_int (k int PRIMARY KEY, org int);"
                     "CREATE TABLE public.by_text (k text PRIMARY KEY, tenant text);"
                     "CREATE TABLE public.by_name (k int PRIMARY KEY, tenant_id text);"
                     "CREATE TABLE public.old (k int PRIMARY KEY, tenant_id text);"
                     "CREATE TABLE public.later (k int PRIMARY KEY, org uuid);"
                     # a trigger as enable_audit('public.old') made it before 011: key 'id'
                     "CREATE TRIGGER vigil_audit AFTER INSERT OR UPDATE OR DELETE ON public.old "
                     "FOR EACH ROW EXECUTE FUNCTION vigil_monitor.audit_trigger()")
    for argv in (["db", "tenant-column", "public.by_int", "org"],
                 ["db", "tenant-column", "public.by_text", "tenant"],
                 ["db", "audit", "enable", "public.by_int"],
                 ["db", "audit", "enable", "public.by_text"],
                 ["db", "audit", "enable", "public.by_name"],
                 # audit first, tenant column after: the trigger follows the registration
                 ["db", "audit", "enable", "public.later"],
                 ["db", "tenant-column", "public.later", "org"]):
        assert cli.main([*argv, "--dsn", fresh_db]) == 0
    with pg.connect(fresh_db) as conn:
        conn.execute("SELECT set_config('app.current_tenant_id', 'session-tenant', false)")
        conn.execute("INSERT INTO public.by_int VALUES (1, 42); UPDATE public.by_int SET org = 43;"
                     "DELETE FROM public.by_int;"
                     "INSERT INTO public.by_text VALUES ('a', 't-1');"
                     "INSERT INTO public.by_name VALUES (7, 'n-1');"
                     "INSERT INTO public.old VALUES (9, 'o-1');"
                     "INSERT INTO public.later VALUES (3, '8c5d3f7e-0000-4000-8000-00000000000a')")
    rows = query(fresh_db, "SELECT table_name, operation, tenant_id, row_pk, changed_columns "
                 "FROM vigil_monitor.audit_buffer ORDER BY id")
    assert rows == [
        ("public.by_int", "INSERT", "42", "1", ["k", "org"]),
        ("public.by_int", "UPDATE", "43", "1", ["org"]),
        ("public.by_int", "DELETE", "43", "1", ["k", "org"]),
        ("public.by_text", "INSERT", "t-1", "a", ["k", "tenant"]),
        ("public.by_name", "INSERT", "n-1", "7", ["k", "tenant_id"]),
        ("public.old", "INSERT", "o-1", None, ["k", "tenant_id"]),
        ("public.later", "INSERT", "8c5d3f7e-0000-4000-8000-00000000000a", "3", ["k", "org"]),
    ]
