"""A live router with its console, a notification sink and one headless Chromium per module.

The router runs on a real port from its own event loop in a thread (the browser and
``requests`` are synchronous), on a ManualClock started at the real time, with the engine
and the outbox driven by the test (``live.run()``), so every page, link and expiry is
deterministic. One database, one router and one browser per module keep the suite fast.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import requests
import yaml
from aiohttp import web
from support.databases import scratch_database
from support.polling import free_port

from router.app import create_app
from router.config import load_config
from router.keys import ENGINE, SENDER
from router.migrate import migrate
from vigil.core.clock import ManualClock

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
TOKEN = "console-test-token-0123456789"
SECRET = "console-test-secret-0123456789-abcdefghij"
USERS = {"alice": ("alice-pass-1", "responder"), "victor": ("victor-pass-1", "read-only")}
CANARY = "PHI-CANARY-Zq81xw"   # a label value standing for a patient's name


class Live:
    """The router, its sink and its clock, reachable from synchronous test code."""

    def __init__(self, config_path: Path, dsn: str) -> None:
        self.dsn = dsn
        self.clock = ManualClock(datetime.now(UTC))
        self.pages: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sink_runner, sink_url = self.call(self._serve(self._sink_app()))
        self.config = load_config(config_path, env={"VIGIL_SINK_URL": sink_url})
        self.app = create_app(self.config, clock=self.clock, background=False)
        self.runner, self.base = self.call(self._serve(self.app, self.config.router.listen.port))
        assert self.base == self.config.router.public_url   # the ack links point here

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def _sink_app(self) -> web.Application:
        async def notify(request: web.Request) -> web.Response:
            self.pages.append(await request.json())
            return web.Response(text="ok")
        app = web.Application()
        app.router.add_post("/notify", notify)
        return app

    @staticmethod
    async def _serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str]:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return runner, f"http://127.0.0.1:{port}"

    def run(self) -> None:
        """One engine tick, then deliver everything due."""
        async def work() -> None:
            await self.app[ENGINE].tick()
            while await self.app[SENDER].pump():
                await self.app[SENDER].drain()
            await self.app[SENDER].drain()
        self.call(work())

    def fire(self, name: str, severity: str, **labels: str) -> int:
        """Alertmanager posts one firing alert; the engine pages its first step."""
        alert = {"status": "firing", "labels": {"alertname": name, "severity": severity,
                                                "target": "demo", **labels},
                 "annotations": {"summary": f"{name} fired", "secret_note": CANARY},
                 "startsAt": self.clock.now().isoformat(), "endsAt": "0001-01-01T00:00:00Z",
                 "generatorURL": "http://prometheus/graph", "fingerprint": f"fp-{name}"}
        requests.post(f"{self.base}/api/v1/alertmanager", timeout=10,
                      headers={"Authorization": f"Bearer {TOKEN}"},
                      json={"receiver": "vigil", "status": "firing", "alerts": [alert],
                            "version": "4", "groupKey": "{}"}).raise_for_status()
        [(alert_id,)] = self.sql("SELECT id FROM vigil_router.alerts WHERE alertname = %s",
                                 name)
        self.run()
        return int(alert_id)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def stop(self) -> None:
        self.call(self.runner.cleanup())
        self.call(self.sink_runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def live(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with scratch_database(admin_dsn, "console", migrate) as dsn:
        tmp = tmp_path_factory.mktemp("console")
        path = tmp / "router.yml"
        port = free_port()
        path.write_text(yaml.safe_dump({
            "listen": {"host": "127.0.0.1", "port": port},
            "public_url": f"http://127.0.0.1:{port}",
            "database": {"dsn": dsn, "pool_min": 1, "pool_max": 4},
            "auth": {"bearer_token": TOKEN},
            "escalation_file": str(REPO / "config" / "escalation.yml"),
            "oncall_file": str(REPO / "config" / "oncall.yml"),
            "prometheus_url": "http://127.0.0.1:9",
            "console": {"secret": SECRET, "ack_link_ttl": "30m",
                        "users": {u: {"password": p, "role": r}
                                  for u, (p, r) in USERS.items()}}}))
        server = Live(path, dsn)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium (Debian's chromium and chromium-driver, installed by
    scripts/bootstrap.sh) for the whole module."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    assert chromium and driver_bin, "chromium and chromium-driver: run scripts/bootstrap.sh"
    os.environ.setdefault("SE_AVOID_STATS", "true")   # selenium must not phone home
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-dev-shm-usage", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--window-size=1280,1000",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})   # CSP reports land here
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=driver_bin))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
