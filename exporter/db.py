"""One bounded connection pool per target, and the only way collectors touch the database:
a read-only transaction with server-side statement_timeout and lock_timeout."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import errors as pgerr
from psycopg_pool import AsyncConnectionPool, PoolTimeout, TooManyRequests

from exporter.config import Target

APPLICATION_NAME = "vigil-exporter"
REASONS = ("timeout", "connection", "query", "missing_object")

_MISSING = (pgerr.UndefinedFunction, pgerr.UndefinedTable, pgerr.InvalidSchemaName,
            pgerr.UndefinedColumn, pgerr.UndefinedObject)
_TIMEOUT = (pgerr.QueryCanceled, pgerr.LockNotAvailable, TimeoutError)

AConn = psycopg.AsyncConnection[tuple[Any, ...]]


def quiet_pool_logs() -> None:
    """psycopg_pool logs every failed reconnect; we log once per change of state instead."""
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


def classify(exc: BaseException) -> str:
    """Map an exception to a reason of vigil_collector_errors_total."""
    if isinstance(exc, _MISSING):
        return "missing_object"
    if isinstance(exc, _TIMEOUT):
        return "timeout"
    if isinstance(exc, PoolTimeout | TooManyRequests | psycopg.OperationalError):
        return "connection"
    return "query"


def _ms(seconds: float) -> str:
    return f"{max(1, int(seconds * 1000))}ms"


class TargetDB:
    """A target's pool plus the bookkeeping that tells "pool exhausted" from "DB down"."""

    def __init__(self, target: Target) -> None:
        self.target = target
        p = target.pool
        self.pool: AsyncConnectionPool[AConn] = AsyncConnectionPool(
            conninfo=str(target.dsn), open=False, name=f"vigil-exporter-{target.name}",
            min_size=p.min_size, max_size=p.max_size, timeout=p.timeout,
            max_waiting=p.max_waiting, reconnect_timeout=p.reconnect_timeout,
            check=AsyncConnectionPool.check_connection,
            kwargs={"application_name": APPLICATION_NAME, "autocommit": True,
                    "connect_timeout": max(2, int(p.connect_timeout))})
        self.in_use = 0

    async def open(self) -> None:
        # wait=False: the exporter must start (and say vigil_up 0) when the DB is down.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close(timeout=1.0)

    def exhausted(self) -> bool:
        return self.in_use >= self.target.pool.max_size

    @asynccontextmanager
    async def transaction(self, statement_timeout: float,
                          lock_timeout: float) -> AsyncIterator[AConn]:
        """A read-only transaction; the server cancels statements after the timeout."""
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
        return dict(self.pool.get_stats())
