"""vigil/maintain/worker.py with a fake connection: the order of a pass, how batches drain,
what an error records, and how the loop survives an outage.

tests/maintain/test_worker_logic.py covers Backoff and error_class; tests/maintain/ runs the
worker against PostgreSQL.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

import psycopg
import pytest

from vigil.core.errors import DatabaseUnavailable
from vigil.maintain import worker

_CALL = re.compile(r"vigil_monitor\.(\w+)\(")


class FakeCursor:
    def __init__(self, row: tuple[object, ...] | None) -> None:
        self.row = row

    def fetchone(self) -> tuple[object, ...] | None:
        return self.row


class FakeConn:
    """Answers maintain_rollup/maintain_trim from a script of batch sizes; records calls."""

    def __init__(self, batches: dict[tuple[str, str], list[int]] | None = None,
                 fail_on: tuple[str, str] | None = None,
                 error: psycopg.Error | None = None) -> None:
        self.batches = batches or {}
        self.fail_on, self.error = fail_on, error
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.closed = False
        self.broken = False
        self.on_record: Callable[[], None] = lambda: None

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> FakeCursor:
        if "to_regprocedure" in sql:  # schema 012's control counters are installed
            return FakeCursor((True,))
        match = _CALL.search(sql)
        fn = match.group(1) if match else sql
        self.calls.append((fn, params))
        if fn == "maintain_record_run":
            self.on_record()
            return FakeCursor(None)
        key = (fn, str(params[0]) if len(params) > 1 else "")
        if key == self.fail_on and self.error is not None:
            raise self.error
        script = self.batches.get(key, [])
        return FakeCursor((script.pop(0) if script else 0,))

    def close(self) -> None:
        self.closed = True

    def work(self) -> list[tuple[str, object]]:
        return [(fn, params[0] if len(params) > 1 else "") for fn, params in self.calls
                if fn != "maintain_record_run"]


def test_a_pass_rolls_up_before_it_trims_then_records_success() -> None:
    conn = FakeConn()
    worker.run_once(conn, batch=10)  # type: ignore[arg-type]
    # the control counters (012) fold audit_write_metrics rows before retention trims them
    assert conn.work() == ([("maintain_rollup", s) for s in worker.ROLLUP_SOURCES]
                           + [("controls_fold", "")]
                           + [("maintain_trim", t) for t in worker.RETENTION_TABLES])
    assert conn.calls[-1] == ("maintain_record_run", ())


def test_a_table_drains_until_a_batch_comes_back_short() -> None:
    conn = FakeConn({("maintain_rollup", "access_log"): [10, 10, 3, 10],
                     ("maintain_trim", "audit_write_metrics"): [10, 0]})
    stats = worker.run_once(conn, batch=10)  # type: ignore[arg-type]
    assert stats.rolled["access_log"] == 23
    assert stats.trimmed["audit_write_metrics"] == 10
    assert conn.work().count(("maintain_rollup", "access_log")) == 3


def test_one_pass_stops_after_max_batches() -> None:
    conn = FakeConn({("maintain_trim", "access_log"): [5] * 10})
    stats = worker.run_once(conn, batch=5, max_batches=4)  # type: ignore[arg-type]
    assert stats.trimmed["access_log"] == 20


def test_a_database_error_is_recorded_as_its_sqlstate_and_re_raised() -> None:
    error = psycopg.errors.QueryCanceled("canceling statement, patient 'Jane'")
    conn = FakeConn(fail_on=("maintain_trim", "encryption_ops"), error=error)
    with pytest.raises(psycopg.errors.QueryCanceled):
        worker.run_once(conn)  # type: ignore[arg-type]
    recorded = conn.calls[-1]
    assert recorded[0] == "maintain_record_run"
    assert recorded[1] == (worker.error_class(error),)
    assert "Jane" not in str(recorded[1])


def test_a_broken_connection_records_nothing() -> None:
    conn = FakeConn(fail_on=("maintain_rollup", "access_log"),
                    error=psycopg.OperationalError("server closed the connection"))
    conn.broken = True
    with pytest.raises(psycopg.OperationalError):
        worker.run_once(conn)  # type: ignore[arg-type]
    assert all(fn != "maintain_record_run" for fn, _ in conn.calls)


def test_the_loop_reconnects_after_an_outage_and_logs_it_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    good = FakeConn()
    good.on_record = stop.set
    attempts: list[str] = []

    def connect(dsn: str) -> FakeConn:
        attempts.append(dsn)
        if len(attempts) <= 3:
            raise DatabaseUnavailable("cannot connect (password hidden)")
        return good

    monkeypatch.setattr(worker, "_connect", connect)
    backoff = worker.Backoff(initial=0.001, maximum=0.002)
    with caplog.at_level(logging.INFO, logger="vigil.maintain"):
        worker.serve("host=db", interval=0.001, batch=10, stop=stop, backoff=backoff)
    assert len(attempts) == 4
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("database unavailable, retrying with backoff") == 1
    assert messages.count("database reachable again") == 1
    assert good.closed                                       # closed when the loop ends
    assert backoff.next() == 0.001                           # reset by the good pass


def test_a_failed_pass_keeps_its_connection_and_runs_again_next_interval(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    conn = FakeConn(fail_on=("maintain_trim", "access_rollup"),
                    error=psycopg.errors.InsufficientPrivilege("permission denied"))
    passes: list[int] = []

    def on_record() -> None:
        passes.append(1)
        if len(passes) == 2:
            stop.set()

    conn.on_record = on_record
    connects: list[str] = []
    monkeypatch.setattr(worker, "_connect", lambda dsn: connects.append(dsn) or conn)
    with caplog.at_level(logging.WARNING, logger="vigil.maintain"):
        worker.serve("host=db", interval=0.001, batch=10, stop=stop)
    assert connects == ["host=db"]
    assert [r.getMessage() for r in caplog.records] == ["maintenance pass failed"] * 2
