"""009 upgrades an existing install in place: old rows are counted once (txid 0, settled long
ago), and a monitoring role granted by an older `vigil db grants` can still read the metrics."""

from __future__ import annotations

import uuid

import psycopg
from pghelpers import one
from psycopg import sql

from vigil import schema
from vigil.core import pg
from vigil.demo.app import role_dsn
from vigil.maintain import worker
from vigil.schema import roles

READ = "SELECT total_requests, failed_attempts FROM vigil_monitor.security_access_metrics()"


def test_upgrade_counts_old_rows_once_and_keeps_old_grants(fresh_db: str) -> None:
    role = f"vigil_t_mon_{uuid.uuid4().hex[:8]}"
    with pg.connect(fresh_db) as conn:  # the schema as version 007 left it, with history
        roles.ensure_probe_roles(conn)
        schema.apply_migrations(conn, up_to=7)
        for ok in (True, False, True, True):
            conn.execute("SELECT vigil_monitor.record_access('r', 'read', %s)", (ok,))
        conn.execute("SELECT vigil_monitor.record_encryption_op('encrypt', 'k', 1, false)")
        roles.ensure_role(conn, role, "LOGIN NOSUPERUSER NOBYPASSRLS")
        conn.execute(sql.SQL(
            "GRANT USAGE ON SCHEMA vigil_monitor TO {0}; GRANT EXECUTE ON FUNCTION "
            "vigil_monitor.security_access_metrics(), vigil_monitor.unusual_access_patterns(), "
            "vigil_monitor.security_encryption_status(), vigil_monitor.setting(text) TO {0}; "
            "GRANT SELECT ON vigil_monitor.access_log, vigil_monitor.encryption_ops, "
            "vigil_monitor.settings, vigil_monitor.reencryption_jobs TO {0}").format(
                sql.Identifier(role)))
    try:
        assert 9 in schema.install(fresh_db)
        assert one(fresh_db, "SELECT count(*) FROM vigil_monitor.access_log WHERE txid = 0") \
            == (4,)
        with pg.connect(fresh_db) as conn:
            worker.run_once(conn)
            worker.run_once(conn)
        assert one(fresh_db, READ) == (4, 1)
        with psycopg.connect(role_dsn(fresh_db, role), autocommit=True) as conn:
            assert conn.execute(READ).fetchone() == (4, 1)
            assert conn.execute("SELECT failed_operations FROM "
                                "vigil_monitor.security_encryption_status()").fetchone() == (1,)
    finally:
        with pg.connect(fresh_db) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
