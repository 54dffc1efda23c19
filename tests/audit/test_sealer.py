"""The trigger only buffers; the sealer chains every settled row exactly once, in order."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import psycopg
import pytest
from pghelpers import free_port, one, query, wait_for
from support.polling import child, killed_on_exit

from vigil.audit import sealer, verify
from vigil.audit.service import Sealer, SealerConfig
from vigil.core import pg
from vigil.demo.app import role_dsn

from .conftest import Audited


def _chain(dsn: str) -> list[tuple[int, int, int]]:
    return [(r[0], r[1], r[2]) for r in query(
        dsn, "SELECT id, txid, buffer_id FROM vigil_monitor.audit_log ORDER BY id")]


def _waiting(dsn: str) -> int:
    return int(one(dsn, "SELECT rows_waiting FROM vigil_monitor.audit_buffer_status()")[0])


def test_rows_of_out_of_order_commits_are_sealed_once_in_txid_order(audited: Audited) -> None:
    with pg.connect(audited.dsn, autocommit=False) as a:
        a.execute("INSERT INTO public.items (tenant_id, name) VALUES ('t1', 'from A')")
        audited.write(1, "from B")  # B begins after A, commits first
        assert audited.seal() == 0  # A is open: B's row waits behind the horizon
        assert _waiting(audited.dsn) == 1
        a.commit()
    wait_for(audited.seal, lambda _: len(_chain(audited.dsn)) == 2, timeout=30)
    rows = _chain(audited.dsn)
    assert [r[0] for r in rows] == [1, 2] and rows == sorted(rows, key=lambda r: (r[1], r[2]))
    names = [r[0] for r in query(audited.dsn,
                                 "SELECT row_pk FROM vigil_monitor.audit_log ORDER BY id")]
    assert names == ["1", "2"]  # A's row (pk 1) first although B committed first
    assert one(audited.dsn, "SELECT count(*) FROM vigil_monitor.audit_buffer")[0] == 0
    with pg.connect(audited.dsn) as conn:
        assert verify.run(conn, audited.key, audited.checkpoints(), full=True).ok


def test_an_open_audited_transaction_never_blocks_another_sessions_audit_write(
        audited: Audited) -> None:
    with pg.connect(audited.dsn, autocommit=False) as holder:
        holder.execute("INSERT INTO public.items (tenant_id, name) VALUES ('t1', 'held')")
        held_pid = holder.info.backend_pid
        # The old trigger took a transaction-level advisory lock: a second writer waited on it.
        locks = one(audited.dsn, "SELECT count(*) FROM pg_locks WHERE pid = %s "
                    "AND locktype = 'advisory'", (held_pid,))
        assert locks[0] == 0
        with pg.connect(audited.dsn) as other:
            other.execute("SET lock_timeout = '2s'")  # a lock wait fails instead of hanging
            other.execute("INSERT INTO public.items (tenant_id, name) VALUES ('t1', 'other')")
            waiting = one(audited.dsn, "SELECT count(*) FROM pg_locks WHERE NOT granted "
                          "AND pid = %s", (other.info.backend_pid,))
            assert waiting[0] == 0
        holder.rollback()
    audited.write(1)
    assert one(audited.dsn, "SELECT count(*) FROM vigil_monitor.audit_buffer")[0] == 2


def test_rows_written_while_the_sealer_is_down_are_sealed_when_it_starts(
        audited: Audited) -> None:
    audited.write(7)
    with audited.sealing("t-down", batch=3) as t:
        wait_for(lambda: _chain(audited.dsn), lambda c: len(c) == 7, timeout=30)
        audited.write(2)
        wait_for(lambda: _chain(audited.dsn), lambda c: len(c) == 9, timeout=30)
        status = wait_for(lambda: one(audited.dsn, "SELECT * FROM "
                                      "vigil_monitor.audit_sealer_status()"), lambda r: r[4] == 9)
        assert status[0] == "t-down" and status[1] is True
    assert not t.is_alive()  # stops cleanly when asked (SIGTERM sets the same event)
    assert audited.checkpoints()[-1].seq == 9


def test_two_concurrent_sealers_produce_one_chain(audited: Audited) -> None:
    stop = threading.Event()
    sealers = [Sealer(SealerConfig(audited.sealer_dsn, audited.key, audited.checkpoint_file,
                                   interval=0.05, batch=2, sealer_id=f"s{i}"), stop)
               for i in range(2)]
    threads = [threading.Thread(target=s.run) for s in sealers]
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            audited.write(4)
        wait_for(lambda: _chain(audited.dsn), lambda c: len(c) == 20, timeout=30)
        ids = sorted(r[0] for r in query(audited.dsn, "SELECT sealer_id FROM "
                                         "vigil_monitor.audit_sealer_status()"))
        assert ids == ["s0", "s1"]
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    chain = _chain(audited.dsn)
    assert [r[0] for r in chain] == list(range(1, 21))
    assert len({r[2] for r in chain}) == 20
    assert sum(s.sealed for s in sealers) == 20
    with pg.connect(audited.dsn) as conn:
        assert verify.run(conn, audited.key, audited.checkpoints(), full=True).ok


def test_sealer_survives_an_unreachable_database_and_stops_on_request(tmp_path: Path) -> None:
    port = free_port()
    stop = threading.Event()
    sealer = Sealer(SealerConfig(f"postgresql://nobody@127.0.0.1:{port}/x", b"k" * 32,
                                 tmp_path / "cp", sealer_id="t-out"), stop)
    t = threading.Thread(target=sealer.run)
    t.start()
    wait_for(lambda: sealer.error, lambda e: e is not None, timeout=15)
    assert t.is_alive()  # retrying with backoff, not crashed
    stop.set()
    t.join(10)
    assert not t.is_alive() and sealer.error == "DatabaseUnavailable"


def test_application_role_cannot_change_the_buffer_or_the_chain(audited: Audited) -> None:
    app = f"vigil_test_app_{uuid.uuid4().hex[:10]}"
    with pg.connect(audited.dsn) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {app}")
        conn.execute(f"CREATE ROLE {app} LOGIN")
        conn.execute(f"GRANT INSERT, UPDATE, DELETE, SELECT ON public.items TO {app}")
        conn.execute(f"GRANT USAGE ON SEQUENCE public.items_id_seq TO {app}")
    app_dsn = role_dsn(audited.dsn, app)
    try:
        with pg.connect(app_dsn) as conn:  # its audited writes work through the trigger
            conn.execute("INSERT INTO public.items (tenant_id, name) VALUES ('t1', 'a')")
        audited.write(2)
        wait_for(audited.seal, lambda _: _waiting(audited.dsn) == 0)
        audited.write(1)
        for table in ("audit_buffer", "audit_log"):
            for stmt in (f"UPDATE vigil_monitor.{table} SET actor_id = 'x'",
                         f"DELETE FROM vigil_monitor.{table}",
                         f"TRUNCATE vigil_monitor.{table}"):
                with pg.connect(app_dsn) as conn, \
                        pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(stmt.encode())
        # The sealer may delete sealed buffer rows only; it can never rewrite the chain.
        with pg.connect(audited.sealer_dsn) as conn:
            for stmt in ("DELETE FROM vigil_monitor.audit_buffer",
                         "UPDATE vigil_monitor.audit_log SET actor_id = 'x'",
                         "TRUNCATE vigil_monitor.audit_buffer"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(stmt.encode())
        assert _waiting(audited.dsn) == 1
    finally:
        with pg.connect(audited.dsn) as conn:
            conn.execute(f"DROP OWNED BY {app}")
            conn.execute(f"DROP ROLE {app}")


def test_seal_command_runs_as_the_sealer_role_and_exits_cleanly_on_sigterm(
        audited: Audited, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    key_file = tmp_path / "key"
    key_file.write_bytes(audited.key)
    audited.write(3)
    proc = child(
        [sys.executable, "-m", "vigil.cli", "audit", "seal", "--dsn", audited.sealer_dsn,
         "--key-file", str(key_file), "--checkpoint-file", str(audited.checkpoint_file),
         "--interval", "0.1", "--sealer-id", "t-proc"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with killed_on_exit(proc):
        wait_for(lambda: _chain(audited.dsn), lambda c: len(c) == 3, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()
    assert one(audited.dsn, "SELECT active FROM vigil_monitor.audit_sealer_state "
               "WHERE sealer_id = 't-proc'") == (False,)


def test_unique_seq_stops_a_fork_when_two_sealers_bypass_the_lock(audited: Audited) -> None:
    from vigil.audit import sealer
    from vigil.audit.errors import ChainForked
    audited.write(2)
    wait_for(lambda: one(audited.dsn, "SELECT vigil_monitor.audit_settled_horizon() > "
                         "(SELECT max(txid) FROM vigil_monitor.audit_buffer)")[0], bool)
    with pg.connect(audited.sealer_dsn, autocommit=False) as first:
        first.execute("SELECT 1")  # an open transaction: seal_batch's block is a savepoint
        assert sealer.seal_batch(first, audited.key, 10, None) == 2  # not committed yet
        errors: list[BaseException] = []

        def second() -> None:
            with pg.connect(audited.sealer_dsn) as conn:
                try:
                    sealer.seal_batch(conn, audited.key, 10, None)
                except ChainForked as exc:
                    errors.append(exc)

        t = threading.Thread(target=second)
        t.start()
        wait_for(lambda: one(audited.dsn, "SELECT count(*) FROM pg_stat_activity WHERE "
                             "datname = current_database() AND wait_event_type = 'Lock'")[0],
                 lambda n: n == 1)  # the second waits on the first's seq 1
        first.commit()
        t.join(10)
    assert len(errors) == 1
    assert [r[0] for r in _chain(audited.dsn)] == [1, 2]


def test_finding_the_head_costs_an_index_lookup_not_a_walk_over_the_chain(
        audited: Audited) -> None:
    # The sealer reads where the keyed chain starts before every batch: with a long keyed chain
    # a plan without the partial index walks every row, O(history) per batch.
    audited.write(30)
    audited.seal()
    with pg.connect(audited.dsn) as conn:
        conn.execute("SET enable_seqscan = off")  # a tiny table would be seq-scanned anyway
        plan = "\n".join(str(r[0]) for r in conn.execute(
            ("EXPLAIN " + sealer.KEYED_FROM).encode()).fetchall())
    assert "audit_log_legacy_id" in plan, plan
