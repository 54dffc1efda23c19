"""The exporter against the real PostgreSQL through FaultProxy: refuse, pause and freeze, for
less and for more than the pool's reconnect timeout. After every outage vigil_up is back to 1
within one collector interval of the database returning, /-/ready says 503 while the database
is gone (within 5 s of a freeze), and /metrics answers at once throughout."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.config import BUILTIN_COLLECTORS, build_config
from exporter.web import EXPORTER, create_app
from faults.proxy import FaultProxy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exporter"))
from exporter_helpers import parse, value, wait_for

INTERVAL = 1.0
POOL_TIMEOUT = 0.5
RECONNECT_TIMEOUT = 12.0
SHORT, LONG = 10.0, 20.0  # below and above RECONNECT_TIMEOUT (the #15 runs: 60-120 s in prod)


@pytest.fixture
async def live(fresh_db: str, tmp_path: Path) -> AsyncIterator[tuple[TestClient, FaultProxy]]:
    port = int(psycopg.conninfo.conninfo_to_dict(fresh_db).get("port") or 5432)
    with FaultProxy(port) as proxy:
        dsn = psycopg.conninfo.make_conninfo(fresh_db, host="127.0.0.1", port=proxy.port)
        cfg = build_config({
            "targets": [{"name": "db1", "dsn": dsn, "pool": {
                "timeout": POOL_TIMEOUT, "connect_timeout": 2,
                "reconnect_timeout": RECONNECT_TIMEOUT}}],
            "state_dir": str(tmp_path / "state"),
            "scheduler": {"start_jitter": 0},
            "collectors": {n: {"enabled": False} for n in BUILTIN_COLLECTORS},
            "custom_collectors": [{"name": "app_one", "interval": INTERVAL, "timeout": 1,
                                   "queries": [{"sql": "SELECT 1 AS value", "metrics": [
                                       {"name": "app_one", "type": "gauge", "help": "one"}]}]}],
        })
        async with TestClient(TestServer(create_app(cfg))) as client:
            yield client, proxy


async def _up(client: TestClient) -> float | None:
    t0 = time.monotonic()
    resp = await client.get("/metrics")
    text = await resp.text()
    assert resp.status == 200 and time.monotonic() - t0 < 1.0, "a scrape waited on the DB"
    return value(parse(text), "vigil_up", target="db1")


async def _ready(client: TestClient) -> int:
    return (await client.get("/-/ready")).status


@pytest.mark.parametrize("length", [SHORT, LONG], ids=["short", "long"])
@pytest.mark.parametrize("mode", ["refuse", "pause", "freeze"])
async def test_exporter_recovers_within_an_interval_after_any_outage(
        live: tuple[TestClient, FaultProxy], mode: str, length: float) -> None:
    client, proxy = live
    exp = client.app[EXPORTER]  # type: ignore[union-attr]

    async def up_is(want: float) -> bool:
        return await _up(client) == want

    async def ready_is(want: int) -> bool:
        return await _ready(client) == want

    await wait_for(lambda: up_is(1.0), within=10)
    await wait_for(lambda: ready_is(200), within=10)
    with proxy.fault(mode):
        t_fault = time.monotonic()
        await wait_for(lambda: ready_is(503), within=5)
        assert time.monotonic() - t_fault < 5.0
        await wait_for(lambda: up_is(0.0), within=10)
        await asyncio.sleep(max(0.0, length - (time.monotonic() - t_fault)))  # the outage
        assert await _up(client) == 0.0
        assert len(exp.tasks) <= len(exp.targets["db1"].specs)  # runs never pile up
    t_back = time.monotonic()
    await wait_for(lambda: up_is(1.0), within=15)
    took = time.monotonic() - t_back
    # One interval, plus the pool timeout of a run that started just before the heal.
    assert took <= INTERVAL + POOL_TIMEOUT + 0.5, f"vigil_up back after {took:.1f}s"
    await wait_for(lambda: ready_is(200), within=INTERVAL + 2)
    # And it stays up: no late failure of a run from the outage flips it back.
    for _ in range(int(3 * INTERVAL / 0.2)):
        assert await _up(client) == 1.0
        await asyncio.sleep(0.2)
