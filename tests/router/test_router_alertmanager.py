"""A real Alertmanager (Debian's prometheus-alertmanager) posts to the router. While the
router answers 503 (database down), Alertmanager retries; the result is exactly one alert."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
import yaml
from router_helpers import TOKEN, until, write_router_yml
from support.polling import async_child, free_port

from router.app import create_app
from router.config import load_config
from router.keys import METRICS
from vigil.core import pg
from vigil.core.clock import ManualClock

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


@pytest.fixture
async def served(router_db: str, tmp_path: Path, aiohttp_server: Any) -> Any:
    """The router app on a real port (Alertmanager must reach it over TCP)."""
    config = load_config(write_router_yml(tmp_path, router_db),
                         env={"VIGIL_SINK_URL": "http://127.0.0.1:9"})
    return await aiohttp_server(create_app(config, clock=ManualClock(), background=False),
                                port=free_port())


@pytest.fixture
async def alertmanager(served: Any, tmp_path: Path) -> AsyncIterator[str]:
    if not shutil.which(ALERTMANAGER):
        pytest.fail("prometheus-alertmanager is not installed (scripts/bootstrap.sh)")
    server = served
    router_url = f"http://127.0.0.1:{server.port}/api/v1/alertmanager"
    port = free_port()
    cfg = {
        "route": {"receiver": "vigil", "group_by": ["alertname"], "group_wait": "0s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "vigil", "webhook_configs": [{
            "url": router_url, "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}}}]}],
    }
    (tmp_path / "am.yml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "am-data").mkdir()
    proc = await async_child(
        [ALERTMANAGER, f"--config.file={tmp_path / 'am.yml'}",
         f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address="], stdout=asyncio.subprocess.DEVNULL,
        stderr=(tmp_path / "am.log").open("wb"))
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as s:
        async def ready() -> bool:
            try:
                async with s.get(f"{url}/-/ready") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False
        await until(ready, 20, "alertmanager ready")
    yield url
    proc.terminate()
    await proc.wait()


def _requests(server: Any, code: str) -> float:
    value = server.app[METRICS].registry.get_sample_value(
        "vigil_router_webhook_request_duration_seconds_count", {"code": code})
    return value or 0.0


@pytest.mark.slow
async def test_alertmanager_retries_through_503_and_yields_exactly_one_alert(
        served: Any, alertmanager: str, admin_dsn: str, router_db: str) -> None:
    dbname = pg.dbname_of(router_db)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,))
    alert = [{"labels": {"alertname": "AuditIntegrityBroken", "severity": "P1",
                         "target": "demo"},
              "annotations": {"summary": "audit chain broken"}}]
    async with aiohttp.ClientSession() as s, s.post(f"{alertmanager}/api/v2/alerts",
                                                    json=alert) as r:
        assert r.status == 200
    try:
        await until(lambda: _requests(served, "503") >= 2, 20, "router answering 503")
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
    await until(lambda: _requests(served, "200") >= 1, 30, "a retry accepted")
    rows = _sql(router_db, "SELECT alertname, severity, status FROM vigil_router.alerts")
    assert rows == [("AuditIntegrityBroken", "P1", "open")]
    assert _requests(served, "503") >= 2
    assert _sql(router_db, "SELECT count(*) FROM vigil_router.raw_payloads") == [(1,)]


def _sql(dsn: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]
