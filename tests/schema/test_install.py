"""vigil_monitor installs idempotently, reports what is missing, and grants least privilege."""

from __future__ import annotations

import psycopg
import pytest
from pghelpers import one, query

from vigil import demo, schema
from vigil.audit.demo import seal_for_demo
from vigil.core import pg
from vigil.schema import cli as schema_cli

FINGERPRINT = """
SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT 'rel:' || c.oid::regclass || ':' || c.relkind::text || ':' || coalesce(c.relacl::text, '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname IN ('vigil_monitor', 'public')
  UNION ALL
  SELECT 'fn:' || p.oid::regprocedure || ':' || md5(p.prosrc) || ':' || coalesce(p.proacl::text, '')
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'vigil_monitor'
  UNION ALL
  SELECT 'col:' || a.attrelid::regclass || '.' || a.attname || ':' || coalesce(a.attacl::text, '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname IN ('vigil_monitor', 'public') AND a.attnum > 0
  UNION ALL SELECT 'trg:' || tgrelid::regclass || ':' || tgname || ':' || xmin::text
  FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'ver:' || version FROM vigil_monitor.schema_version
  UNION ALL SELECT 'set:' || key || '=' || coalesce(value, '') FROM vigil_monitor.settings
) s(x)
"""


def test_install_twice_changes_nothing_the_second_time(fresh_db: str) -> None:
    first = schema.install(fresh_db)
    assert first == [m.version for m in schema.migrations()]
    before = one(fresh_db, FINGERPRINT)
    assert schema.install(fresh_db) == []
    assert one(fresh_db, FINGERPRINT) == before


def test_status_names_missing_contract_objects(fresh_db: str, capsys: pytest.CaptureFixture[str],
                                               ) -> None:
    parser = _parser()
    assert parser.parse_args(["db", "status", "--dsn", fresh_db]).func(
        parser.parse_args(["db", "status", "--dsn", fresh_db])) == 1
    schema.install(fresh_db)
    st = schema.status(fresh_db)
    assert st.ok and st.installed_version == st.latest_version
    with pg.connect(fresh_db) as conn:
        conn.execute("DROP FUNCTION vigil_monitor.security_audit_metrics()")
    st = schema.status(fresh_db)
    assert st.missing == ("security_audit_metrics",)
    args = parser.parse_args(["db", "status", "--dsn", fresh_db])
    capsys.readouterr()
    assert args.func(args) == 1
    assert "missing: security_audit_metrics" in capsys.readouterr().out


def test_contract_objects_have_the_contract_columns(fresh_db: str) -> None:
    schema.install(fresh_db)
    with pg.connect(fresh_db) as conn:
        for obj in schema.CONTRACT:
            cur = conn.execute(obj.probe_sql.encode())
            assert tuple(d.name for d in cur.description or ()) == obj.columns, obj.name


def test_grants_print_shows_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    parser = _parser()
    args = parser.parse_args(["db", "grants", "--print", "--role", "mon_x"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert 'GRANT "pg_monitor" TO "mon_x";' in out
    assert "pg_read_all_data" not in out and "SUPERUSER" not in out.upper()


def test_exporter_reads_every_contract_object_but_never_a_phi_column(
        demo_db: demo.DemoInfo) -> None:
    demo.run_load(demo_db, duration=1.0, rate=30)
    with pg.connect(demo_db.exporter_dsn) as conn:
        role = conn.execute("SELECT rolsuper, rolbypassrls FROM pg_roles "
                            "WHERE rolname = current_user").fetchone()
        assert role == (False, False)
        conn.execute("BEGIN READ ONLY")
        for obj in schema.CONTRACT:
            call = obj.probe_sql.replace(" LIMIT 0", "").replace("(1, 0)", "(2, 500)")
            conn.execute(call.encode()).fetchall()
        conn.execute("COMMIT")
        for column in ("patient_name_enc", "diagnosis_enc"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f'SELECT {column} FROM "Deal" LIMIT 1')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute('SET ROLE vigil_probe_bypass; SELECT email_enc FROM "Contact" LIMIT 1')
    members = query(demo_db.admin_dsn, "SELECT g.rolname FROM pg_auth_members m "
                    "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
                    "WHERE u.rolname = 'vigil_exporter'")
    assert {"pg_read_all_data", "pg_write_all_data"}.isdisjoint({r[0] for r in members})


def test_audit_log_refuses_update_delete_and_truncate(demo_db: demo.DemoInfo) -> None:
    demo.run_load(demo_db, duration=0.5, rate=20)
    assert seal_for_demo(demo_db.admin_dsn) > 0  # the chain is written by the sealer
    for stmt in ("UPDATE vigil_monitor.audit_log SET actor_id = 'x'",
                 "DELETE FROM vigil_monitor.audit_log",
                 "TRUNCATE vigil_monitor.audit_log"):
        # Even the owner is stopped by the triggers; the app role has no privilege at all.
        with pg.connect(demo_db.admin_dsn) as conn, pytest.raises(psycopg.Error):
            conn.execute(stmt.encode())
        with pg.connect(demo_db.app_dsn) as conn, pytest.raises(psycopg.Error):
            conn.execute(stmt.encode())
    assert one(demo_db.admin_dsn, "SELECT * FROM vigil_monitor.verify_audit_chain()")[1] is None


def test_audit_rows_hold_no_phi_values(demo_db: demo.DemoInfo) -> None:
    demo.run_load(demo_db, duration=0.5, rate=20)
    buffered = query(demo_db.admin_dsn,
                     "SELECT to_jsonb(b)::text FROM vigil_monitor.audit_buffer b")
    seal_for_demo(demo_db.admin_dsn)
    rows = buffered + query(demo_db.admin_dsn,
                            "SELECT to_jsonb(a)::text FROM vigil_monitor.audit_log a")
    assert buffered and len(rows) > len(buffered)
    text = " ".join(r[0] for r in rows)
    for value in ("Ada Example", "asthma", "example.invalid", "555-01"):
        assert value not in text


def _parser() -> object:
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    schema_cli.register(sub)
    return parser
