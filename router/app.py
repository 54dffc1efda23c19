"""``create_app(config)``: the aiohttp application, its resources and background jobs.

The factory does no I/O. The pool, the HTTP client session for channels, the
apscheduler that wakes the engine and the outbox sender's loop live in ``cleanup_ctx``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import psycopg
from aiohttp import web
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from router import api, auth
from router.channels import build as build_channels
from router.config import Config
from router.engine import Engine
from router.http import DB_ERRORS, unavailable
from router.keys import CHANNELS, CLOCK, CONFIG, ENGINE, MATRIX, METRICS, POOL, SENDER
from router.matrix import Matrix
from router.metrics import Metrics
from router.outbox import Sender
from vigil.clock import Clock, SystemClock
from vigil.errors import DatabaseUnavailable
from vigil.logs import StateLog, fields

log = logging.getLogger("vigil.router")


@web.middleware
async def guard(request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> web.StreamResponse:
    """Auth for /api/ (not the OpenAPI document), and 503 whenever the fault is ours."""
    cfg = request.app[CONFIG].router.auth
    if request.path.startswith("/api/") and request.path != "/api/v1/openapi.json":
        reason = auth.check(request, cfg)
        if reason is not None:
            return auth.unauthorized(reason, cfg)
    try:
        return await handler(request)
    except DB_ERRORS:
        log.warning("database unavailable while handling a request",
                    extra=fields(route=request.match_info.route.resource.canonical
                                 if request.match_info.route.resource else "?"))
        return unavailable()


def create_app(config: Config, clock: Clock | None = None, background: bool = True,
               metrics: Metrics | None = None) -> web.Application:
    """Build the app. ``background=False`` leaves the engine and outbox to the caller
    (tests call ``app[ENGINE].tick()`` and ``app[SENDER].pump()`` on a ManualClock)."""
    auth.protect_access_log()
    app = web.Application(middlewares=[guard],
                          client_max_size=config.router.webhook.max_body_bytes)
    app[CONFIG] = config
    app[CLOCK] = clock or SystemClock()
    app[MATRIX] = Matrix(config.escalation)
    app[METRICS] = metrics or Metrics()
    app.cleanup_ctx.append(_pool)
    app.cleanup_ctx.append(_workers)
    if background:
        app.cleanup_ctx.append(_scheduler)
    app.cleanup_ctx.append(_freeze)
    api.setup_routes(app)
    return app


@asynccontextmanager
async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    db = app[CONFIG].router.database
    statement_ms = int(db.statement_timeout * 1000)

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(f"SET statement_timeout = {statement_ms}")
        await conn.execute("SET idle_in_transaction_session_timeout = 60000")

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        str(db.dsn), min_size=db.pool_min, max_size=db.pool_max, open=False,
        timeout=db.pool_timeout, configure=configure, name="vigil-router",
        kwargs={"autocommit": True, "application_name": "vigil-router",
                "connect_timeout": max(1, int(db.connect_timeout))})
    try:
        await pool.open(wait=True, timeout=db.connect_timeout + db.pool_timeout)
    except PoolTimeout:
        await pool.close()
        raise DatabaseUnavailable("cannot connect to the router database (DSN hidden); "
                                  "is PostgreSQL running and the DSN right?") from None
    app[POOL] = pool
    try:
        yield
    finally:
        await pool.close()


def _pool(app: web.Application) -> Any:
    return _pool_ctx(app)


@asynccontextmanager
async def _workers_ctx(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]
    async with aiohttp.ClientSession() as session:
        app[CHANNELS] = build_channels(cfg.escalation, session)
        app[ENGINE] = Engine(app[POOL], app[MATRIX], app[CLOCK], app[METRICS],
                             batch_size=cfg.router.engine.batch_size,
                             public_url=cfg.router.public_url)
        app[SENDER] = Sender(app[POOL], cfg.escalation, channels=app[CHANNELS],
                             cfg=cfg.router.outbox, clock=app[CLOCK], metrics=app[METRICS])
        try:
            yield
        finally:
            await app[SENDER].close()


def _workers(app: web.Application) -> Any:
    return _workers_ctx(app)


async def _freeze(app: web.Application) -> AsyncIterator[None]:
    """Move the long-lived objects (modules, config, pool, matrix) out of the cyclic
    collector's reach once started: full collections over them would otherwise stall
    webhook requests for milliseconds under load."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


async def housekeeping(app: web.Application) -> None:
    """Bounded retention of raw payloads: by age and by count."""
    ret = app[CONFIG].router.retention
    cutoff = app[CLOCK].now() - timedelta(seconds=ret.raw_payloads)
    async with app[POOL].connection() as conn:
        await conn.execute("DELETE FROM vigil_router.raw_payloads WHERE received_at < %s",
                           (cutoff,))
        await conn.execute(
            "DELETE FROM vigil_router.raw_payloads WHERE id <= (SELECT id FROM "
            "vigil_router.raw_payloads ORDER BY id DESC OFFSET %s LIMIT 1)",
            (ret.max_raw_payloads,))


@asynccontextmanager
async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    cfg = app[CONFIG].router
    states = StateLog(log)

    def guarded(name: str, fn: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            try:
                await fn()
            except DB_ERRORS:
                states.update(name, "db-down", "background job: database unavailable", job=name)
                return
            except Exception as exc:
                _job_failed(name, exc)
                return
            states.update(name, "ok", "background job recovered", level=logging.INFO, job=name)
        return run

    scheduler = AsyncIOScheduler(timezone=UTC)
    # apscheduler only wakes things up: state is in PostgreSQL. misfire_grace_time=None
    # (its default of 1 s silently drops a late run), coalesce, one instance at a time.
    opts: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1,
                            "next_run_time": datetime.now(UTC)}
    sender = app[SENDER]

    async def fire() -> None:
        if await app[ENGINE].tick():
            sender.wake()   # the new deliveries leave now, not at the sender's next poll

    def outbox_state(exc: BaseException | None) -> None:
        if exc is None:
            states.update("outbox", "ok", "background job recovered", level=logging.INFO,
                          job="outbox")
        elif isinstance(exc, DB_ERRORS):
            states.update("outbox", "db-down", "background job: database unavailable",
                          job="outbox")
        else:
            _job_failed("outbox", exc)

    scheduler.add_job(guarded("engine", fire), "interval",
                      seconds=cfg.engine.tick_interval, id="engine", **opts)
    scheduler.add_job(guarded("housekeeping", lambda: housekeeping(app)), "interval",
                      seconds=300, id="housekeeping", **opts)
    scheduler.start()
    # The sender is its own loop: it claims whenever slots free up (router/outbox.py).
    sending = asyncio.create_task(sender.run(outbox_state), name="vigil-outbox")
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)
        sending.cancel()
        with suppress(asyncio.CancelledError):
            await sending


def _scheduler(app: web.Application) -> Any:
    return _scheduler_ctx(app)


def _job_failed(job: str, exc: BaseException) -> None:
    """Type and SQLSTATE only: PostgreSQL's message and DETAIL can quote row values
    (alert labels, ack notes, incident descriptions)."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    log.error("background job failed",
              extra=fields(job=job, error=type(exc).__name__, sqlstate=sqlstate))
