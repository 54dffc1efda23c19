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
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from router import api, auth, console, identity, netaddr
from router.channels.registry import build as build_channels
from router.config import Config, Database
from router.containment import routes as containment_routes
from router.engine import Engine
from router.health import Health, bounded, quiet_driver_logs
from router.http import DB_ERRORS, STORAGE_ERRORS, check_query, error, needs_json, unavailable
from router.keys import CHANNELS, CLOCK, CONFIG, ENGINE, HEALTH, MATRIX, METRICS, POOL, SENDER
from router.matrix import Matrix
from router.metrics import Metrics
from router.outbox import Sender
from vigil.core.clock import Clock, SystemClock
from vigil.core.errors import DatabaseUnavailable
from vigil.core.logs import fields

log = logging.getLogger("vigil.router")


@web.middleware
async def guard(request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> web.StreamResponse:
    """The client behind a trusted proxy (router/netaddr.py), auth for /api/ (not the OpenAPI
    document), and 503 whenever the fault is ours."""
    config = request.app[CONFIG].router
    request = netaddr.resolve(request, netaddr.parse(config.trusted_proxies))
    cfg = config.auth
    if request.path.startswith("/api/") and request.path != "/api/v1/openapi.json":
        who = auth.identify(request, cfg)
        if isinstance(who, str):
            return auth.unauthorized(who, cfg)
        refused = (identity.admit(request, who) or needs_json(request)
                   or check_query(request))
        if refused is not None:
            return refused
    route = (request.match_info.route.resource.canonical
             if request.match_info.route.resource else "?")
    try:
        # Every request's database work is bounded client-side (router/health.py): a frozen
        # connection costs a 503 after op_timeout, never a hung request.
        return await bounded(handler(request), request.app[CONFIG].router.database.op_timeout)
    except web.HTTPException:
        raise
    except DB_ERRORS:
        request.app[HEALTH].db_error("request", route)
        return unavailable()
    except STORAGE_ERRORS as exc:
        # A net under router/validate.py: PostgreSQL refused a value. The request's content
        # is at fault (400, final), not us; log the class only: PostgreSQL's message, DETAIL
        # and CONTEXT quote the values (PHI).
        log.warning("request refused by PostgreSQL", extra=fields(
            route=route, error=type(exc).__name__, sqlstate=getattr(exc, "sqlstate", "")))
        return error(400, "body: a value can't be stored", "body")
    except Exception as exc:
        # Never let aiohttp log the exception: its text can carry payload values.
        log.error("request failed", extra=fields(
            route=route, error=type(exc).__name__, sqlstate=getattr(exc, "sqlstate", "") or ""))
        return error(500, "internal error")


def create_app(config: Config, clock: Clock | None = None, background: bool = True,
               metrics: Metrics | None = None) -> web.Application:
    """Build the app. ``background=False`` leaves the engine and outbox to the caller
    (tests call ``app[ENGINE].tick()`` and ``app[SENDER].pump()`` on a ManualClock)."""
    auth.protect_access_log()
    quiet_driver_logs()
    app = web.Application(middlewares=[guard],
                          client_max_size=config.router.webhook.max_body_bytes)
    app[CONFIG] = config
    app[CLOCK] = clock or SystemClock()
    app[MATRIX] = Matrix(config.escalation, config.oncall)
    app[METRICS] = metrics or Metrics()
    app[HEALTH] = Health(config.router.engine.stall_after)
    app.cleanup_ctx.append(_pool)
    app.cleanup_ctx.append(_workers)
    if background:
        app.cleanup_ctx.append(_scheduler)
    app.cleanup_ctx.append(_freeze)
    api.setup_routes(app)
    containment_routes.setup_routes(app)
    identity.setup_routes(app)
    console.setup(app)
    auth.protect_access_log(app)
    return app


@asynccontextmanager
async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    db = app[CONFIG].router.database
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        str(db.dsn), min_size=db.pool_min, max_size=db.pool_max, open=False,
        timeout=db.pool_timeout, name="vigil-router",
        reconnect_timeout=db.reconnect_timeout, kwargs=conninfo_bounds(db))
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


def conninfo_bounds(db: Database) -> dict[str, Any]:
    """libpq parameters that bound every connection client-side: a connect that hangs, an
    idle connection whose peer vanished (keepalives), unacknowledged data (tcp_user_timeout,
    milliseconds)."""
    idle = max(1, int(db.keepalives_idle))
    # Session settings travel in the startup packet (covered by connect_timeout), not as
    # SET statements after it, which a connection frozen right after connecting would hang.
    # Appended to the DSN's own options (a search_path, say), which kwargs would replace.
    mine = (f"-c statement_timeout={int(db.statement_timeout * 1000)} "
            "-c idle_in_transaction_session_timeout=60000")
    try:
        theirs = str(conninfo_to_dict(str(db.dsn)).get("options") or "")
    except psycopg.ProgrammingError:
        theirs = ""   # an invalid DSN fails at connect, with its own message
    options = f"{theirs} {mine}".strip()
    return {"autocommit": True, "application_name": "vigil-router", "options": options,
            "connect_timeout": max(1, int(db.connect_timeout)),
            "keepalives": 1, "keepalives_idle": idle,
            "keepalives_interval": max(1, idle // 3), "keepalives_count": 3,
            "tcp_user_timeout": int(db.tcp_user_timeout * 1000)}


def _pool(app: web.Application) -> Any:
    return _pool_ctx(app)


@asynccontextmanager
async def _workers_ctx(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]
    async with aiohttp.ClientSession() as session:
        app[CHANNELS] = build_channels(cfg.escalation, session)
        app[ENGINE] = Engine(app[POOL], app[MATRIX], app[CLOCK], app[METRICS],
                             batch_size=cfg.router.engine.batch_size,
                             public_url=cfg.router.public_url,
                             op_timeout=cfg.router.database.op_timeout,
                             handoff_window=cfg.router.engine.handoff_notice_window)
        app[SENDER] = Sender(app[POOL], cfg.escalation, oncall=cfg.oncall,
                             channels=app[CHANNELS],
                             cfg=cfg.router.outbox, clock=app[CLOCK], metrics=app[METRICS],
                             op_timeout=cfg.router.database.op_timeout,
                             decorate=console.ack_links(cfg))
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
    """Bounded retention of raw payloads (by age and by count) and of the console's expired
    sessions and old failed logins."""
    ret = app[CONFIG].router.retention
    now = app[CLOCK].now()
    cutoff = now - timedelta(seconds=ret.raw_payloads)
    async def work() -> None:
        async with app[POOL].connection() as conn:
            await conn.execute("DELETE FROM vigil_router.raw_payloads WHERE received_at < %s",
                               (cutoff,))
            await conn.execute(
                "DELETE FROM vigil_router.raw_payloads WHERE id <= (SELECT id FROM "
                "vigil_router.raw_payloads ORDER BY id DESC OFFSET %s LIMIT 1)",
                (ret.max_raw_payloads,))
            await console.sweep(conn, app[CONFIG], now)
    await bounded(work(), 2 * app[CONFIG].router.database.op_timeout)


@asynccontextmanager
async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    health = app[HEALTH]

    def report(name: str, exc: BaseException | None) -> None:
        """Quiet logs: an outage is one warning and one recovery line (router/health.py);
        other failures are logged by class, never by message (it can quote values)."""
        if exc is None:
            health.ok(name)
        elif isinstance(exc, DB_ERRORS):
            health.db_error(name)
        else:
            _job_failed(name, exc)

    scheduler = AsyncIOScheduler(timezone=UTC)

    async def housekeep() -> None:
        try:
            await housekeeping(app)
        except Exception as exc:
            report("housekeeping", exc)

    # apscheduler only wakes housekeeping up: state is in PostgreSQL. misfire_grace_time=None
    # (its default of 1 s silently drops a late run), coalesce, one instance at a time.
    scheduler.add_job(housekeep, "interval", seconds=300, id="housekeeping",
                      misfire_grace_time=None, coalesce=True, max_instances=1,
                      next_run_time=datetime.now(UTC))
    scheduler.start()
    # The engine and the sender are loops of their own: a tick or a claim never overlaps
    # the next (nothing to skip, nothing to warn about every tick while the database is
    # away), and each step is bounded (router/health.py), so a frozen connection costs one
    # op_timeout, not the loop.
    sender = app[SENDER]
    health.watch("engine")
    health.watch("outbox")
    app[ENGINE].on_progress = lambda: health.ok("engine")
    ticking = asyncio.create_task(_engine_loop(app, report), name="vigil-engine")
    sending = asyncio.create_task(sender.run(lambda exc: report("outbox", exc)),
                                  name="vigil-outbox")
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)
        for task in (ticking, sending):
            task.cancel()
        for task in (ticking, sending):
            with suppress(asyncio.CancelledError):
                await task


async def _engine_loop(app: web.Application,
                       report: Callable[[str, BaseException | None], None]) -> None:
    """Tick every ``tick_interval`` (measured start to start), forever; never raises."""
    interval = app[CONFIG].router.engine.tick_interval
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            if await app[ENGINE].tick():
                app[SENDER].wake()   # the new deliveries leave now, not at the next poll
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            report("engine", exc)
        else:
            report("engine", None)
        await asyncio.sleep(max(0.0, interval - (loop.time() - started)))


def _scheduler(app: web.Application) -> Any:
    return _scheduler_ctx(app)


def _job_failed(job: str, exc: BaseException) -> None:
    """Type and SQLSTATE only: PostgreSQL's message and DETAIL can quote row values
    (alert labels, ack notes, incident descriptions)."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    log.error("background job failed",
              extra=fields(job=job, error=type(exc).__name__, sqlstate=sqlstate))
