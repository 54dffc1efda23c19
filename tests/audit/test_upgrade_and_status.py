"""Upgrade in place from 007, and the status functions and commands on top of the chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pghelpers import one, query, wait_for

from vigil import schema
from vigil.audit import chain, verify
from vigil.cli import main
from vigil.core import pg
from vigil.demo.app import role_dsn
from vigil.schema.contract import DEFAULT_SEALER_ROLE

from .conftest import KEY, Audited, tamper


def test_upgrade_from_007_keeps_the_legacy_chain_and_continues_it_keyed(
        fresh_db: str, tmp_path: Path) -> None:
    with pg.connect(fresh_db) as conn:
        schema.apply_migrations(conn, up_to=7)
        conn.execute("CREATE TABLE public.items (id serial PRIMARY KEY, tenant_id text, name text)")
        conn.execute("SELECT vigil_monitor.enable_audit('public.items')")
        for i in range(5):
            conn.execute("INSERT INTO public.items (tenant_id, name) VALUES ('t1', %s)", (str(i),))
        conn.execute("UPDATE public.items SET name = 'renamed' WHERE id = 2")
    legacy = one(fresh_db, "SELECT count(*), max(id) FROM vigil_monitor.audit_log")
    assert legacy == (6, 6)
    assert [v for v in schema.install(fresh_db) if v <= 8] == [8]  # 009+ apply too
    a = Audited(fresh_db, role_dsn(fresh_db, DEFAULT_SEALER_ROLE), KEY, tmp_path / "cp.jsonl")
    a.write(5)
    wait_for(a.seal, lambda _: one(fresh_db, "SELECT count(*) FROM vigil_monitor.audit_log")[0]
             == 11)
    rows = query(fresh_db, "SELECT id, hash_alg, prev_hash, row_hash FROM vigil_monitor.audit_log "
                 "ORDER BY id")
    assert [r[1] for r in rows] == [chain.LEGACY] * 6 + [chain.KEYED] * 5
    assert rows[6][2] == rows[5][3]  # the first keyed row continues from the last legacy hash
    assert a.checkpoints()[0].keyed_from == 7
    with pg.connect(fresh_db) as conn:
        res = verify.run(conn, KEY, a.checkpoints(), full=True)
    assert res.ok and res.checked == 11
    tamper(fresh_db, "UPDATE vigil_monitor.audit_log SET actor_id = 'mallory' WHERE id = 3")
    with pg.connect(fresh_db) as conn:
        first = verify.run(conn, KEY, a.checkpoints(), full=True).first
    assert first is not None and (first.seq, first.kind) == (3, "altered")
    assert one(fresh_db, "SELECT first_broken_id FROM vigil_monitor.verify_audit_chain()")[0] == 3


def _status(a: Audited, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["audit", *argv, "--dsn", a.dsn, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_buffer_status_and_async_health_follow_the_sealer(
        audited: Audited, capsys: pytest.CaptureFixture[str]) -> None:
    audited.write(3)
    code, buf = _status(audited, "buffer-status", capsys=capsys)
    assert code == 0 and buf["rows_waiting"] == 3 and buf["size_bytes"] > 0
    assert buf["oldest_waiting_seconds"] >= 0
    code, health = _status(audited, "async-health", capsys=capsys)
    assert code == 1 and not health["healthy"] and health["sealers"] == []
    with audited.sealing("t-health"):
        wait_for(lambda: _status(audited, "buffer-status", capsys=capsys)[1]["rows_waiting"],
                 lambda n: n == 0)
        code, health = _status(audited, "async-health", capsys=capsys)
        assert code == 0 and health["healthy"]
        assert health["sealers"][0]["sealer_id"] == "t-health"
        assert health["sealers"][0]["rows_sealed_total"] == 3
        assert main(["audit", "async-health", "--dsn", audited.dsn]) == 0
        assert "t-health" in capsys.readouterr().out
    one(audited.dsn, "UPDATE vigil_monitor.settings SET value = '0' "
        "WHERE key = 'audit_sealer_dead_seconds' RETURNING key")
    assert _status(audited, "async-health", capsys=capsys)[0] == 1  # heartbeat too old now


def test_a_running_sealer_catches_tampering_with_verified_rows_by_key(audited: Audited) -> None:
    audited.write(6)
    chain_status = "SELECT * FROM vigil_monitor.audit_chain_status()"
    with audited.sealing("t-tamper", verify_every=3600):
        wait_for(lambda: one(audited.dsn, chain_status), lambda r: r[1] == 6 and r[3] == 0)
        # The tripwire off, as a careful superuser would: only the keyed re-verification,
        # triggered by audit_log's update counter, can find it.
        tamper(audited.dsn,
               "ALTER TABLE vigil_monitor.audit_log DISABLE TRIGGER audit_log_tripwire",
               "UPDATE vigil_monitor.audit_log SET actor_id = 'mallory' WHERE id = 5")
        row = wait_for(lambda: one(audited.dsn, chain_status), lambda r: r[3] > 0, timeout=30)
        assert row[4] == 5
        assert one(audited.dsn, "SELECT integrity_issues, first_broken_id FROM "
                   "vigil_monitor.security_audit_metrics()") == (1, 5)


def test_the_tripwire_reports_a_changed_row_at_once_and_clears_when_restored(
        audited: Audited) -> None:
    audited.write(4)
    wait_for(audited.seal, lambda _: one(audited.dsn, "SELECT count(*) FROM "
                                         "vigil_monitor.audit_log")[0] == 4)
    metrics = "SELECT integrity_issues, first_broken_id FROM vigil_monitor.security_audit_metrics()"
    assert one(audited.dsn, metrics) == (0, None)
    tamper(audited.dsn, "UPDATE vigil_monitor.audit_log SET actor_id = 'mallory' WHERE id = 3")
    assert one(audited.dsn, metrics) == (1, 3)
    tamper(audited.dsn, "UPDATE vigil_monitor.audit_log SET actor_id = 'postgres' WHERE id = 3")
    assert one(audited.dsn, metrics) == (0, None)
    tamper(audited.dsn, "DELETE FROM vigil_monitor.audit_log WHERE id = 4")
    assert one(audited.dsn, metrics) == (1, 4)


def test_upgrade_keeps_a_custom_monitoring_role_able_to_read_audit_metrics(
        fresh_db: str) -> None:
    import uuid

    from psycopg import sql
    role = f"vigil_test_mon_{uuid.uuid4().hex[:10]}"
    with pg.connect(fresh_db) as conn:
        schema.apply_migrations(conn, up_to=7)
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA vigil_monitor TO {0}; GRANT EXECUTE ON "
                             "FUNCTION vigil_monitor.security_audit_metrics() TO {0}; "
                             "GRANT SELECT ON vigil_monitor.phi_columns TO {0}")
                     .format(sql.Identifier(role)))
    try:
        schema.install(fresh_db)
        assert one(role_dsn(fresh_db, role), "SELECT integrity_issues FROM "
                   "vigil_monitor.security_audit_metrics()") == (0,)
    finally:
        with pg.connect(fresh_db) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {0}; DROP ROLE {0}").format(sql.Identifier(role)))
