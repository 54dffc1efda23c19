"""One bounded connection pool per target, and the only way collectors touch the database:
a read-only transaction with server-side statement_timeout and lock_timeout.

Every call is bounded on the client side too: libpq ``connect_timeout``, TCP keepalives and
``tcp_user_timeout`` end a connection to a vanished host, and the scheduler's guard ends a
run the database never answers. The pool is not trusted to heal itself: after psycopg_pool
gives up reconnecting (``reconnect_failed``), or after a run that could not reach the target
(its connections may be black holes, its queue may hold abandoned waiters), the next run
starts on a fresh pool, so the first run after the database returns succeeds whatever the
outage's length.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import errors as pgerr
from psycopg_pool import AsyncConnectionPool, PoolTimeout, TooManyRequests

from exporter.config import Target

APPLICATION_NAME = "vigil-exporter"
REASONS = ("timeout", "connection", "query", "missing_object", "row_limit", "probe")
# Why a target is down (vigil_down_reason): a bounded set, so an operator can tell a wrong
# password from a dead host without reading logs.
DOWN_REASONS = ("auth", "unreachable", "timeout", "rejected", "dsn", "other")

_MISSING = (pgerr.UndefinedFunction, pgerr.UndefinedTable, pgerr.InvalidSchemaName,
            pgerr.UndefinedColumn, pgerr.UndefinedObject)
_TIMEOUT = (pgerr.QueryCanceled, pgerr.LockNotAvailable, TimeoutError)
# libpq reports connection failures without a SQLSTATE, so the text is all there is.
_AUTH = ("password authentication failed", "authentication failed", "no pg_hba.conf entry",
         "role \"", "password is required", "permission denied for database")
_UNREACHABLE = ("refused", "could not translate host name", "no route to host",
                "network is unreachable", "server closed the connection", "connection reset",
                "no such file or directory", "could not connect")

AConn = psycopg.AsyncConnection[tuple[Any, ...]]
# Pool statistics that are counters: summed over the pools a target has had.
_COUNTERS = ("requests_num", "requests_errors", "requests_wait_ms", "connections_num",
             "connections_errors", "connections_lost", "connections_ms", "requests_queued",
             "returns_bad", "usage_ms")


class RowLimitExceeded(Exception):
    """A custom query returned more rows than limits.max_rows."""


class ProbeFailed(Exception):
    """A built-in measurement reported that it could not measure (e.g. a lock timeout)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def quiet_pool_logs() -> None:
    """psycopg_pool logs every failed reconnect; we log once per change of state instead."""
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)


def classify(exc: BaseException) -> str:
    """Map an exception to a reason of vigil_collector_errors_total."""
    if isinstance(exc, _MISSING):
        return "missing_object"
    if isinstance(exc, _TIMEOUT):
        return "timeout"
    if isinstance(exc, RowLimitExceeded):
        return "row_limit"
    if isinstance(exc, ProbeFailed):
        return "probe"
    if isinstance(exc, PoolTimeout | TooManyRequests | psycopg.OperationalError):
        return "connection"
    return "query"


def connect_reason(exc: BaseException) -> str:
    """Why a connection attempt failed, one of DOWN_REASONS."""
    if isinstance(exc, psycopg.ProgrammingError):
        return "dsn"  # conninfo parse error: no attempt was made
    text = str(exc).lower()
    if "timeout expired" in text or isinstance(exc, TimeoutError):
        return "timeout"
    if any(p in text for p in _AUTH):
        return "auth"
    if "fatal:" in text:
        return "rejected"  # the server answered no: database missing, too many clients ...
    if any(p in text for p in _UNREACHABLE):
        return "unreachable"
    return "other"


def _ms(seconds: float) -> str:
    return f"{max(1, int(seconds * 1000))}ms"


class TargetDB:
    """A target's pool plus the bookkeeping that tells "pool exhausted" from "DB down"."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.in_use = 0
        self.connect_error: str | None = None  # DOWN_REASONS of the last failed connect
        self.replacements = 0
        self._stale = False
        self._retired: Counter[str] = Counter()
        self._closing: set[asyncio.Task[None]] = set()
        self.pool = self._new_pool()

    def _new_pool(self) -> AsyncConnectionPool[AConn]:
        p = self.target.pool
        db = self

        class Connection(psycopg.AsyncConnection[tuple[Any, ...]]):
            """Remembers why the last connection attempt failed (auth, unreachable, ...)."""

            @classmethod
            async def connect(cls, conninfo: str = "",
                              **kwargs: Any) -> Connection:
                try:
                    conn = await super().connect(conninfo, **kwargs)
                except (psycopg.Error, OSError) as exc:
                    db.connect_error = connect_reason(exc)
                    raise
                db.connect_error = None
                return conn

        return AsyncConnectionPool(
            conninfo=str(self.target.dsn), open=False, name=f"vigil-exporter-{self.target.name}",
            connection_class=Connection, min_size=p.min_size, max_size=p.max_size,
            timeout=p.timeout, max_waiting=p.max_waiting, reconnect_timeout=p.reconnect_timeout,
            reconnect_failed=self._reconnect_failed, check=AsyncConnectionPool.check_connection,
            kwargs={"application_name": APPLICATION_NAME, "autocommit": True,
                    "connect_timeout": max(2, int(p.connect_timeout)),
                    # A connection to a host that vanished dies within seconds, not hours.
                    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                    "keepalives_count": 3,
                    "tcp_user_timeout": int(1000 * (p.connect_timeout + p.timeout + 10))})

    def _reconnect_failed(self, pool: AsyncConnectionPool[AConn]) -> None:
        self._stale = True

    def mark_stale(self) -> None:
        """The pool may hold dead connections or abandoned waiters: replace it before the
        next run."""
        self._stale = True

    async def open(self) -> None:
        # wait=False: the exporter must start (and say vigil_up 0) when the DB is down.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close(timeout=1.0)
        if self._closing:
            await asyncio.wait(self._closing, timeout=2.0)

    async def _replace(self) -> None:
        old, self.pool = self.pool, self._new_pool()
        self._stale = False
        self.replacements += 1
        stats = old.get_stats()
        self._retired.update({k: v for k, v in stats.items() if k in _COUNTERS})
        # Closing may wait on connections nobody answers: never on the run's path.
        task = asyncio.create_task(old.close(timeout=0.5))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        await self.pool.open(wait=False)

    def exhausted(self) -> bool:
        return self.in_use >= self.target.pool.max_size

    @asynccontextmanager
    async def transaction(self, statement_timeout: float,
                          lock_timeout: float) -> AsyncIterator[AConn]:
        """A read-only transaction; the server cancels statements after the timeout."""
        if self._stale:
            await self._replace()
        async with self.pool.connection() as conn:
            self.in_use += 1
            try:
                async with conn.transaction():
                    await conn.execute(
                        "SELECT set_config('transaction_read_only', 'on', true), "
                        "set_config('statement_timeout', %s, true), "
                        "set_config('lock_timeout', %s, true), "
                        "set_config('idle_in_transaction_session_timeout', %s, true)",
                        (_ms(statement_timeout), _ms(lock_timeout), _ms(statement_timeout + 5)))
                    yield conn
            finally:
                self.in_use -= 1

    def stats(self) -> dict[str, int]:
        stats = dict(self.pool.get_stats())
        for key, n in self._retired.items():
            stats[key] = stats.get(key, 0) + n
        return stats
