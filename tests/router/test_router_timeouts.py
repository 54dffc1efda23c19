"""Client-side bounds on database work and the health they feed (router/health.py). The fault
suite (tests/faults/test_router_database_faults.py) proves them end to end through a proxy;
these pin each piece down."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from router_helpers import Router, am_alert, am_payload

from router.app import conninfo_bounds
from router.config import Database
from router.health import DatabaseTimeout, Health, bounded
from router.keys import ENGINE, HEALTH, POOL


async def test_every_pooled_connection_carries_keepalives_and_tcp_user_timeout(
        router: Router) -> None:
    async with router.client.server.app[POOL].connection() as conn:
        params = conn.info.get_parameters()
    assert params["keepalives"] == "1"
    assert params["tcp_user_timeout"] == "10000"
    assert int(params["keepalives_idle"]) >= 1 and params["keepalives_count"] == "3"
    bounds = conninfo_bounds(Database(dsn="x", tcp_user_timeout=2.5, keepalives_idle=1))
    assert bounds["tcp_user_timeout"] == 2500 and bounds["keepalives_interval"] == 1
    keep = conninfo_bounds(Database(dsn="dbname=x options='-c search_path=app'"))
    assert keep["options"].startswith("-c search_path=app -c statement_timeout=10000")


async def test_bounded_abandons_work_that_ignores_cancellation_at_once() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:   # what psycopg does: a cancel dance of up to 10 s
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await release.wait()
            raise

    started = time.monotonic()
    with pytest.raises(DatabaseTimeout):
        await bounded(stubborn(), 0.2)
    assert time.monotonic() - started < 1.0
    release.set()
    assert await bounded(asyncio.sleep(0, result=7), 1) == 7


def test_an_outage_logs_one_warning_and_one_recovery_line(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    health = Health(stall_after=4, monotonic=lambda: now[0])
    health.watch("engine")
    caplog.set_level(logging.INFO, logger="vigil.router")
    for _ in range(100):
        health.db_error("engine")
        health.db_error("request", "/api/v1/alertmanager")
        now[0] += 0.5
    health.ok("engine")
    health.ok("engine")
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]


def test_a_worker_without_success_for_stall_after_is_stalled() -> None:
    now = [0.0]
    health = Health(stall_after=4, monotonic=lambda: now[0])
    health.watch("engine")
    health.watch("outbox")
    now[0] = 3.0
    health.ok("outbox")
    assert health.stalled() == []
    now[0] = 4.5
    assert health.stalled() == ["engine"]
    health.ok("engine")
    assert health.stalled() == []


async def test_readiness_is_503_while_the_engine_is_stalled(router: Router) -> None:
    app: Any = router.client.server.app
    assert (await router.client.get("/-/ready")).status == 200
    now = [0.0]
    app[HEALTH].monotonic = lambda: now[0]
    app[HEALTH].watch("engine")
    now[0] = 10.0
    resp = await router.client.get("/-/ready")
    assert resp.status == 503 and "engine" in await resp.text()
    app[HEALTH].ok("engine")
    assert (await router.client.get("/-/ready")).status == 200


async def test_session_timeouts_are_set_at_connect(router: Router) -> None:
    async with router.client.server.app[POOL].connection() as conn:
        cur = await conn.execute("SELECT current_setting('statement_timeout'), "
                                 "current_setting('idle_in_transaction_session_timeout')")
        assert await cur.fetchone() == ("10s", "1min")


async def test_a_long_tick_reports_progress_per_batch(make_router: Any) -> None:
    r: Router = await make_router(engine={"batch_size": 2})
    for i in range(5):
        assert (await r.post(am_payload(am_alert(f"B{i}", "P4")))).status == 200
    calls: list[int] = []
    engine = r.client.server.app[ENGINE]
    engine.on_progress = lambda: calls.append(1)
    await engine.tick()
    assert len(calls) >= 3   # 5 steps, 2 per batch: alive through the burst, not stalled
