"""One maintenance pass, and the long-lived loop around it.

Each call of a maintenance function is its own short transaction (autocommit): the rollup
holds its state row only for one batch, and each retention batch deletes at most ``batch``
rows, so neither holds locks or a snapshot for long and the application's writers (plain
INSERTs) never wait on them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field

import psycopg

from vigil.core import pg
from vigil.core.errors import DatabaseUnavailable
from vigil.core.logs import StateLog, fields

log = logging.getLogger("vigil.maintain")

# Rolled up before trimming: retention only deletes rows already counted.
ROLLUP_SOURCES: tuple[str, ...] = ("access_log", "encryption_ops")
RETENTION_TABLES: tuple[str, ...] = ("access_log", "phi_access_patterns", "encryption_ops",
                                     "audit_write_metrics", "access_rollup")
Conn = psycopg.Connection[tuple[object, ...]]


@dataclass
class RunStats:
    rolled: dict[str, int] = field(default_factory=dict)
    trimmed: dict[str, int] = field(default_factory=dict)


@dataclass
class Backoff:
    """Reconnect delays: initial, doubled after each failure, capped at maximum."""

    initial: float = 1.0
    maximum: float = 60.0
    _next: float = 0.0

    def next(self) -> float:
        delay = self._next or self.initial
        self._next = min(delay * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = 0.0


def error_class(exc: BaseException) -> str:
    """What maintenance_status().last_error records: a SQLSTATE or a class name, no message."""
    state = getattr(exc, "sqlstate", None)
    return str(state) if state else type(exc).__name__


def _drain(conn: Conn, call: str, args: tuple[object, ...], batch: int,
           max_batches: int) -> int:
    """Call ``vigil_monitor.<call>`` (its last argument the batch size) until a batch comes
    back short, at most ``max_batches`` times; returns the rows it handled."""
    total = 0
    for _ in range(max_batches):
        row = conn.execute(f"SELECT vigil_monitor.{call}", (*args, batch)).fetchone()
        n = int(str(row[0])) if row and row[0] is not None else 0
        total += n
        if n < batch:
            break
    return total


def _has_controls(conn: Conn) -> bool:
    # A schema installed before 012 has no control counters: nothing to fold.
    row = conn.execute("SELECT to_regprocedure('vigil_monitor.controls_fold(integer)') "
                       "IS NOT NULL").fetchone()
    return bool(row and row[0])


def run_once(conn: Conn, *, batch: int = 10_000, max_batches: int = 100) -> RunStats:
    """Roll up new settled rows, trim every table to its retention, record the run.

    A database error is recorded as the run's last_error (when the connection still works)
    and re-raised.
    """
    stats = RunStats()
    try:
        for source in ROLLUP_SOURCES:
            stats.rolled[source] = _drain(conn, "maintain_rollup(%s, %s)", (source,), batch,
                                          max_batches)
        # Before trimming: audit_write_metrics rows are folded into the control counters
        # (schema 012) while they are still there.
        if _has_controls(conn):
            stats.rolled["controls"] = _drain(conn, "controls_fold(%s)", (), batch, max_batches)
        for table in RETENTION_TABLES:
            stats.trimmed[table] = _drain(conn, "maintain_trim(%s, %s)", (table,), batch,
                                          max_batches)
    except psycopg.Error as exc:
        if not conn.closed and not conn.broken:
            with contextlib.suppress(psycopg.Error):  # the original error is the one to report
                conn.execute("SELECT vigil_monitor.maintain_record_run(%s)", (error_class(exc),))
        raise
    conn.execute("SELECT vigil_monitor.maintain_record_run(NULL)")
    return stats


def _connect(dsn: str) -> Conn:
    conn = pg.connect(dsn, application_name="vigil-maintain")
    # A stuck batch must fail and be retried, never hold locks for long.
    conn.execute("SET statement_timeout = '60s'")
    conn.execute("SET lock_timeout = '5s'")
    return conn


def serve(dsn: str, *, interval: float, batch: int, stop: threading.Event,
          backoff: Backoff | None = None) -> None:
    """Run passes every ``interval`` seconds until ``stop`` is set; survive DB outages by
    reconnecting with exponential backoff."""
    backoff = backoff or Backoff()
    states = StateLog(log)  # one line per outage, not one per retry
    conn: Conn | None = None
    try:
        while not stop.is_set():
            wait = interval
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = _connect(dsn)
                stats = run_once(conn, batch=batch)
                backoff.reset()
                states.update("database", "ok", "database reachable again", logging.INFO)
                log.debug("maintenance pass done",
                         extra=fields(rolled=sum(stats.rolled.values()),
                                      trimmed=sum(stats.trimmed.values())))
            except (DatabaseUnavailable, psycopg.OperationalError) as exc:
                wait = backoff.next()
                states.update("database", "down", "database unavailable, retrying with backoff",
                              error=error_class(exc))
                if conn is not None:
                    conn.close()
                conn = None
            except psycopg.Error as exc:
                log.warning("maintenance pass failed", extra=fields(error=error_class(exc)))
            stop.wait(wait)
    finally:
        if conn is not None:
            conn.close()
