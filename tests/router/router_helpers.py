"""Test helpers for the router: a real HTTP sink, payload builders, config writers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import psycopg
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from support.polling import wait_for_async

from router.config import Config
from router.keys import ENGINE, SENDER
from vigil.core.clock import ManualClock

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-router-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Whom the shipped P3 target "on-call" (schedule primary of config/oncall.yml) reaches at the
# ManualClock's start, 2026-01-01: alice, on call from Monday 2025-12-29 09:00 New York.
ON_CALL = "alice/sink"


async def serve_local(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on a free port of 127.0.0.1; returns the runner and the base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@dataclass
class Received:
    key: str
    header_key: str
    target: str
    kind: str
    payload: dict[str, Any]
    at: float


@dataclass
class Sink:
    """A real aiohttp server that records every notification (the people's side)."""

    received: list[Received] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)     # target -> answer 500 this many times
    hang: set[str] = field(default_factory=set)            # targets whose requests never answer
    status: dict[str, int] = field(default_factory=dict)   # target -> fixed status code
    url: str = ""
    runner: web.AppRunner | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        doc = await request.json()
        target = doc.get("target", "?")
        if target in self.hang:
            await self.release.wait()  # hangs until the sink stops
            return web.Response(status=503)
        if target in self.status:
            return web.Response(status=self.status[target])
        if self.fail.get(target, 0) > 0:
            self.fail[target] -= 1
            return web.Response(status=500)
        self.received.append(Received(doc.get("idempotency_key", ""),
                                      request.headers.get("Idempotency-Key", ""), target,
                                      doc.get("kind", ""), doc, time.monotonic()))
        return web.Response(text="ok")

    async def start(self) -> Sink:
        app = web.Application()
        app.router.add_post("/notify", self.handle)
        self.runner, self.url = await serve_local(app)
        return self

    async def stop(self) -> None:
        self.release.set()
        if self.runner:
            await self.runner.cleanup()

    def keys(self) -> Counter[str]:
        return Counter(r.key for r in self.received)

    def targets(self, kind: str | None = None, alert_id: int | None = None) -> list[str]:
        return sorted(r.target for r in self.received
                      if (kind is None or r.kind == kind)
                      and (alert_id is None or r.payload.get("alert", {}).get("id") == alert_id))


def am_alert(name: str = "RLSOverheadHigh", severity: str | None = "P1", *,
             fingerprint: str | None = None, starts: str = "2026-01-01T00:00:00.123456789Z",
             status: str = "firing", **labels: str) -> dict[str, Any]:
    lab = {"alertname": name, **labels}
    if severity is not None:
        lab["severity"] = severity
    return {"status": status, "labels": lab,
            "annotations": {"summary": f"{name} fired"}, "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else starts,
            "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint or
            f"fp-{name}-{severity}"}


def am_payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    """The shape Alertmanager's webhook notifier sends (version 4), plus a future field."""
    return {"receiver": "vigil", "status": "firing", "alerts": list(alerts),
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "version": "4",
            "groupKey": "{}:{}", "truncatedAlerts": 0, "someFutureField": {"x": 1}}


def write_router_yml(tmp: Path, dsn: str, *, escalation: str | Path | None = None,
                     port: int = 18091, **overrides: Any) -> Path:
    doc: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "database": {"dsn": dsn, "pool_min": 1, "pool_max": 8, "pool_timeout": "1s",
                     "connect_timeout": "2s"},
        "auth": {"bearer_token": TOKEN,
                 "basic": {"username": "alertmanager", "password": "basic-pass-xyz"}},
        "escalation_file": str(escalation or REPO / "config" / "escalation.yml"),
        "oncall_file": str(REPO / "config" / "oncall.yml"),
        "outbox": {"backoff_initial": "1s", "backoff_max": "8s", "max_attempts": 4,
                   "lease": "30s"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    path = tmp / "router.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def until(check: Callable[[], Awaitable[bool]] | Callable[[], bool], deadline_s: float = 10,
                what: str = "condition") -> None:
    """Poll ``check`` until true or fail after ``deadline_s`` seconds: no sleep-and-hope."""
    await wait_for_async(check, within=deadline_s, describe=what)


def dumps(doc: Any) -> str:
    return json.dumps(doc)


@dataclass
class Router:
    client: TestClient[Any, Any]
    clock: ManualClock
    sink: Sink
    dsn: str
    config: Config

    async def post(self, payload: Any, **kw: Any) -> Any:
        return await self.client.post("/api/v1/alertmanager", json=payload,
                                      headers=kw.pop("headers", AUTH), **kw)

    async def api(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self.client.request(method, path, headers=AUTH, **kw)
        return resp.status, await resp.json()

    async def run(self) -> None:
        """One engine tick, then deliver everything due (on the manual clock)."""
        app = self.client.server.app
        await app[ENGINE].tick()
        while await app[SENDER].pump():
            await app[SENDER].drain()
        await app[SENDER].drain()

    async def advance(self, **delta: float) -> None:
        self.clock.advance(**delta)
        await self.run()

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


S = TypeVar("S", bound="Serving")


class Serving(Protocol):
    async def start(self) -> Any: ...
    async def stop(self) -> None: ...


@contextlib.asynccontextmanager
async def serving(server: S) -> AsyncIterator[S]:
    """A fake endpoint (the sink, an SMTP server) that listens for the block, then stops."""
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


async def run_cli(router: Router, *argv: str) -> CliResult:
    """``vigil ARGV --url <the test router> --token TOKEN`` through the real entry point
    (vigil.cli.main), in a thread (the router serves on this loop); argparse's exit 2 too."""
    import asyncio
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from vigil.cli import main

    url = str(router.client.make_url("")).rstrip("/")
    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                return main([*argv, "--url", url, "--token", TOKEN])
            except SystemExit as exc:
                return int(exc.code or 0)

    code = await asyncio.to_thread(call)
    return CliResult(code, out.getvalue(), err.getvalue())
