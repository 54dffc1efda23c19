"""006_settled_watermark: rows carry their writer's transaction id; an upgrade keeps old rows
(txid 0), the runbook's encryption query and every monitoring role's grants."""

from __future__ import annotations

import uuid

import psycopg
from pghelpers import one, query, wait_for
from psycopg import sql

from vigil import schema
from vigil.core import pg
from vigil.schema import roles

WRITES = (
    "SELECT vigil_monitor.record_encryption_op('encrypt', 'k1', 150, true)",
    "SELECT vigil_monitor.record_phi_access('public.t', 'read', 5, 1)",
    "INSERT INTO vigil_monitor.audit_write_metrics (duration, table_name, operation) "
    "VALUES ('2 ms', 'public.t', 'INSERT')",
)
TABLES = ("encryption_ops", "phi_access_patterns", "audit_write_metrics")


def test_upgrade_keeps_old_rows_runbook_query_and_grants(fresh_db: str) -> None:
    role = f"vigil_t_mon_{uuid.uuid4().hex[:8]}"
    with pg.connect(fresh_db) as conn:  # the schema as version 005 left it
        roles.ensure_probe_roles(conn)
        schema.apply_migrations(conn, up_to=5)
        for w in WRITES:
            conn.execute(w)
        roles.ensure_role(conn, role, "LOGIN NOSUPERUSER NOBYPASSRLS")
        conn.execute(sql.SQL(  # a monitoring role granted by an older `vigil db grants`
            "GRANT USAGE ON SCHEMA vigil_monitor TO {0}; GRANT EXECUTE ON FUNCTION "
            "vigil_monitor.security_encryption_status(), "
            "vigil_monitor.monitor_encryption_performance(bigint, integer) TO {0}; "
            "GRANT SELECT ON vigil_monitor.encryption_ops TO {0}").format(sql.Identifier(role)))
    try:
        assert schema.install(fresh_db)[:2] == [6, 7]  # and every later migration
        assert schema.status(fresh_db).ok
        for t in TABLES:  # rows written before the upgrade: "settled long ago"
            assert query(fresh_db, f"SELECT txid FROM vigil_monitor.{t}") == [(0,)]

        with psycopg.connect(fresh_db) as conn:  # new rows: the writing transaction's id
            for w in WRITES:
                conn.execute(w)
            xid = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
            conn.commit()
        for t in TABLES:
            assert query(fresh_db, f"SELECT txid FROM vigil_monitor.{t} WHERE txid <> 0") == [xid]

        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            conn.execute("SET search_path = vigil_monitor, public")
            slow = conn.execute("SELECT * FROM monitor_encryption_performance() "
                                "WHERE duration_ms > 100").fetchall()
            assert len(slow) == 2
            horizon = wait_for(lambda: conn.execute("SELECT settled_horizon()").fetchone(),
                               lambda h: h is not None and h[0] > xid[0])
            settled = conn.execute("SELECT txid, id FROM monitor_encryption_performance("
                                   "0, 10, 0, 0, %s)", (horizon[0],)).fetchall()
            assert settled == sorted(settled) and len(settled) == 2
        before = one(fresh_db, "SELECT count(*) FROM vigil_monitor.schema_version")
        assert schema.install(fresh_db) == []
        assert one(fresh_db, "SELECT count(*) FROM vigil_monitor.schema_version") == before
    finally:
        with pg.connect(fresh_db) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_running_writer_holds_the_horizon_back(fresh_db: str) -> None:
    schema.install(fresh_db)
    with psycopg.connect(fresh_db) as writer:
        writer.execute(WRITES[1])
        xid = writer.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
        assert xid is not None
        h = one(fresh_db, "SELECT vigil_monitor.settled_horizon()")[0]
        assert h <= xid[0]  # its row is not settled while it runs
        writer.commit()
