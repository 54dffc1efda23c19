"""The long-lived sealer: lock, seal, heartbeat, verify; survives outages, stops on request.

One process per monitored database. While another sealer holds the lock this one is a standby:
it keeps its heartbeat (active = false) and takes over when the lock frees. Database errors
never end the process: it records the error class, waits (1 s doubling to 30 s) and reconnects.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from vigil.audit import checkpoints, sealer, verify
from vigil.audit.errors import ChainForked
from vigil.core import pg
from vigil.core.errors import DatabaseUnavailable
from vigil.core.logs import fields

log = logging.getLogger("vigil.audit")
MAX_BACKOFF = 30.0

_BEAT = ("INSERT INTO vigil_monitor.audit_sealer_state AS s (sealer_id, active, "
         "rows_sealed_total, rows_per_second, last_error) VALUES (%(id)s, %(active)s, %(n)s, "
         "%(rate)s, %(err)s) ON CONFLICT (sealer_id) DO UPDATE SET "
         "heartbeat_at = clock_timestamp(), active = EXCLUDED.active, "
         "rows_sealed_total = s.rows_sealed_total + EXCLUDED.rows_sealed_total, "
         "rows_per_second = EXCLUDED.rows_per_second, "
         "last_error = coalesce(EXCLUDED.last_error, s.last_error)")


@dataclass(frozen=True)
class SealerConfig:
    dsn: str
    key: bytes
    checkpoint_file: Path | None = None
    interval: float = 1.0
    batch: int = 1000
    verify_every: float = 30.0
    sealer_id: str = socket.gethostname()


def error_class(exc: BaseException) -> str:
    """SQLSTATE or class name: never the message (it can hold values)."""
    state = getattr(exc, "sqlstate", None)
    return str(state) if state else type(exc).__name__


class Sealer:
    def __init__(self, cfg: SealerConfig, stop: threading.Event | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.stop = stop or threading.Event()
        self.clock = clock
        self.error: str | None = None
        self.sealed = 0

    def run(self, once: bool = False) -> int:
        """Seal until stopped (or one pass with ``once``). Returns an exit code."""
        backoff = 1.0
        while not self.stop.is_set():
            try:
                with pg.connect(self.cfg.dsn, application_name="vigil-audit-sealer") as conn:
                    backoff = 1.0
                    self._serve(conn, once)
                    self._beat(conn, active=False, n=0, rate=0.0)
                if once:
                    return 0
            except (DatabaseUnavailable, psycopg.Error, ChainForked) as exc:
                self.error = error_class(exc)
                log.warning("audit sealer: database error, retrying",
                            extra=fields(error=self.error, retry_in_s=backoff))
                if once:
                    return 1
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
        return 0

    def _beat(self, conn: psycopg.Connection[tuple[object, ...]], *, active: bool, n: int,
              rate: float) -> None:
        conn.execute(_BEAT, {"id": self.cfg.sealer_id, "active": active, "n": n, "rate": rate,
                             "err": self.error})

    def _serve(self, conn: psycopg.Connection[tuple[object, ...]], once: bool) -> None:
        cfg = self.cfg
        self._beat(conn, active=False, n=0, rate=0.0)
        locked = False
        last_verify, last_beat = -math.inf, self.clock()
        try:
            while not self.stop.is_set():
                if not locked:
                    locked = sealer.try_lock(conn)
                    if not locked:  # standby
                        self._beat(conn, active=False, n=0, rate=0.0)
                        if once:
                            return
                        self.stop.wait(cfg.interval)
                        continue
                    log.info("audit sealer active", extra=fields(sealer_id=cfg.sealer_id))
                n = sealer.seal_batch(conn, cfg.key, cfg.batch, cfg.checkpoint_file)
                self.sealed += n
                now = self.clock()
                self._beat(conn, active=True, n=n, rate=n / max(now - last_beat, 1e-3))
                last_beat = now
                touched = verify.tup_changes(conn) != verify.saved_state(conn)[1]
                if once or touched or now - last_verify >= cfg.verify_every:
                    res = verify.run(conn, cfg.key, checkpoints.read(cfg.checkpoint_file))
                    last_verify = now
                    if not res.ok:
                        log.error("audit chain verification failed",
                                  extra=fields(issues=len(res.findings),
                                               first_seq=res.first.seq if res.first else None))
                if n < cfg.batch:
                    if once:
                        return
                    self.stop.wait(cfg.interval)
        finally:
            if locked and not conn.closed:
                sealer.unlock(conn)
