"""Client-side bounds on database work, and the router's health as its workers see it.

PostgreSQL's ``statement_timeout`` can't help when the network is what failed: a partition,
a host gone, a proxy that froze. libpq's keepalives and ``tcp_user_timeout`` (set in the
pool's conninfo) catch a dead peer that stops ACKing; ``bounded`` catches the rest (a peer
that ACKs and never answers): the work is abandoned after ``seconds``, the caller gets
``DatabaseTimeout`` (a ``DatabaseUnavailable``: 503, or a failed tick) at once, and the
connection is cancelled in the background, where psycopg cancels the query or closes the
connection, which the pool then replaces.

``Health`` records each worker's last success: readiness is 503 once the engine or the
sender has not succeeded for ``stall_after`` seconds, whatever a fresh connection says. It
also keeps outage logs quiet: one warning when the database becomes unavailable, one line
when it is back, however many ticks, claims and requests failed in between.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from vigil.core.errors import DatabaseUnavailable
from vigil.core.logs import fields

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from router.metrics import Metrics
    from vigil.core.clock import Clock

log = logging.getLogger("vigil.router")
T = TypeVar("T")

# Abandoned work still running its cancellation (psycopg cancels the query or closes the
# connection): held here so it isn't garbage-collected mid-way; its outcome is dropped.
_abandoned: set[asyncio.Future[Any]] = set()


class DatabaseTimeout(DatabaseUnavailable):
    """Database work took longer than its client-side bound and was abandoned."""


def _reap(task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()   # retrieved: no "exception was never retrieved" noise


async def bounded(work: Awaitable[T], seconds: float) -> T:
    """``await work``, but give up after ``seconds``: raise DatabaseTimeout at once and
    leave the work to cancel itself in the background."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        _abandoned.add(task)
        task.add_done_callback(_reap)
        raise
    if task in done:
        return task.result()
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_reap)
    raise DatabaseTimeout(f"database work abandoned after {seconds:g}s") from None


class Worker:
    """What the background workers (the engine, the outbox sender) share: the pool they work
    on, the router clock, the metrics they count in, and the client-side bound on each of
    their statements (``op_timeout``, see ``bounded``)."""

    def __init__(self, pool: AsyncConnectionPool[Any], clock: Clock, metrics: Metrics,
                 op_timeout: float) -> None:
        self.pool = pool
        self.clock = clock
        self.metrics = metrics
        self.op_timeout = op_timeout


class Health:
    def __init__(self, stall_after: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.stall_after = stall_after
        self.monotonic = monotonic
        self.last_ok: dict[str, float] = {}   # worker -> last success (monotonic)
        self.down = False

    def watch(self, worker: str) -> None:
        """Start holding ``worker`` to ``stall_after`` (its clock starts now)."""
        self.last_ok.setdefault(worker, self.monotonic())

    def ok(self, worker: str) -> None:
        if worker in self.last_ok:
            self.last_ok[worker] = self.monotonic()
        if self.down:
            self.down = False
            log.info("database available again", extra=fields(worker=worker))

    def db_error(self, worker: str, route: str | None = None) -> None:
        if not self.down:
            self.down = True
            log.warning("database unavailable: requests answer 503, escalation waits",
                        extra=fields(worker=worker, **({"route": route} if route else {})))

    def stalled(self) -> list[str]:
        """Workers without a success for longer than ``stall_after``."""
        now = self.monotonic()
        return sorted(w for w, at in self.last_ok.items() if now - at > self.stall_after)


class _DemoteToDebug(logging.Filter):
    """psycopg and its pool warn per failed connect, per discarded connection and per
    abandoned query: during an outage that is a line every second or so, all saying what
    ``Health`` says once. Demoted to DEBUG (still there for whoever asks for it); errors
    pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def quiet_driver_logs() -> None:
    for name in ("psycopg", "psycopg.pool"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DemoteToDebug) for f in logger.filters):
            logger.addFilter(_DemoteToDebug())
