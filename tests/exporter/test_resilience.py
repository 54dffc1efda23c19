"""Database down or hung, and the watermark's exactly-once promise across restarts."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from exporter_helpers import exposition, parse, run, value, wait_for
from faults.proxy import FaultProxy
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from exporter.config import ExporterConfig
from exporter.scheduler import Exporter
from exporter.web import create_app

Start = Callable[..., Awaitable[Exporter]]
MakeConfig = Callable[..., ExporterConfig]


def via(dsn: str, port: int) -> str:
    return make_conninfo(dsn, host="127.0.0.1", port=str(port))


@pytest.mark.parametrize("failure", ["stopped", "hung"])
async def test_database_down_then_back(fresh_db: str, make_config: MakeConfig,
                                       failure: str, caplog: pytest.LogCaptureFixture) -> None:
    # stopped: the database refuses connections; hung: it accepts and answers nothing.
    proxy = FaultProxy(int(conninfo_to_dict(fresh_db).get("port") or 5432)).start()
    mode = "refuse" if failure == "stopped" else "pause"
    custom = [{"name": "app_one", "interval": "300ms", "timeout": "500ms", "queries": [
        {"sql": "SELECT 1 AS value", "metrics": [
            {"name": "app_one", "type": "gauge", "help": "one"}]}]}]
    cfg = make_config(via(fresh_db, proxy.port), custom, targets=[
        {"name": "db1", "dsn": via(fresh_db, proxy.port),
         "pool": {"timeout": "500ms", "connect_timeout": 2, "reconnect_timeout": "1s"}}])
    app = create_app(cfg)
    async with TestClient(TestServer(app)) as client:
        async def up() -> float | None:
            resp = await client.get("/metrics")
            return value(parse(await resp.text()), "vigil_up", target="db1")

        await wait_for(lambda: _eq(up(), 1.0), within=10)
        with caplog.at_level(logging.INFO, logger="exporter"):
            # Only this block: an earlier test in the worker may have set INFO already, and
            # then the first "reachable" (at start) would be captured too.
            caplog.clear()
            getattr(proxy, mode)()
            await wait_for(lambda: _eq(up(), 0.0), within=10)
            t0 = time.monotonic()
            resp = await client.get("/metrics")
            assert resp.status == 200 and time.monotonic() - t0 < 1.0
            proxy.heal()
            t_back = time.monotonic()
            await wait_for(lambda: _eq(up(), 1.0), within=10)
            assert time.monotonic() - t_back < 5.0
            proxy.stop()
        down = [r for r in caplog.records if "unreachable" in r.getMessage()]
        back = [r for r in caplog.records if "reachable again" in r.getMessage()]
        assert len(down) == 1 and len(back) == 1
        assert not any(r.exc_info or r.exc_text for r in caplog.records)


async def _eq(value_coro: Awaitable[float | None], want: float) -> bool:
    return await value_coro == want


async def test_watermark_observes_each_row_exactly_once_across_restarts(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY, d float8)")
        conn.execute("INSERT INTO events (d) SELECT 0.01 FROM generate_series(1, 5)")
    custom: list[dict[str, Any]] = [{"name": "app_events", "queries": [{
        "sql": "SELECT id, d AS value FROM events WHERE id > %(watermark)s ORDER BY id "
               "LIMIT %(batch)s",
        "metrics": [{"name": "app_event_seconds", "type": "histogram", "help": "e",
                     "buckets": [0.05, 1], "watermark": "id"}]}]}]

    def count(exp: Exporter) -> float | None:
        return value(exposition(exp), "app_event_seconds_count", target="db1")

    # watermark_start "now": the 5 rows already there are history, not observed.
    cfg = make_config(fresh_db, custom, limits={"watermark_batch": 3})
    exp = await started(cfg)
    assert await run(exp, "app_events")
    assert count(exp) is None
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("INSERT INTO events (d) SELECT 0.01 FROM generate_series(1, 7)")
    assert await run(exp, "app_events") and await run(exp, "app_events")
    assert count(exp) == 7  # read in batches of 3, each row once
    await exp.stop()

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("INSERT INTO events (d) SELECT 2 FROM generate_series(1, 4)")
    exp2 = await started(cfg)  # a restart: same state_dir
    assert count(exp2) == 7    # restored before any run
    assert await run(exp2, "app_events") and await run(exp2, "app_events")
    s = exposition(exp2)
    assert value(s, "app_event_seconds_count") == 11
    assert value(s, "app_event_seconds_bucket", le="0.05") == 7
    assert value(s, "app_event_seconds_bucket", le="+Inf") == 11


async def test_watermark_start_zero_observes_existing_rows(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY, d float8)")
        conn.execute("INSERT INTO events (d) SELECT 0.01 FROM generate_series(1, 5)")
    custom = [{"name": "app_events", "queries": [{
        "sql": "SELECT id, d AS value FROM events WHERE id > %(watermark)s ORDER BY id",
        "metrics": [{"name": "app_event_seconds", "type": "histogram", "help": "e",
                     "buckets": [0.05, 1], "watermark": "id"}]}]}]
    exp = await started(make_config(fresh_db, custom, watermark_start="zero"))
    assert await run(exp, "app_events")
    assert value(exposition(exp), "app_event_seconds_count") == 5
