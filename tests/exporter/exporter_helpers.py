"""Exporter test helpers: parse /metrics, poll with a deadline, a controllable TCP proxy."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from exporter.scheduler import Exporter

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, metric_name: str, /, **labels: str) -> float | None:
    want = set(labels.items())
    hits = [v for (n, lv), v in samples.items() if n == metric_name and want <= set(lv)]
    return hits[0] if len(hits) == 1 else (None if not hits else sum(hits))


def exposition(exp: Exporter) -> Samples:
    exp.renderer.refresh()
    return parse(exp.renderer.current.text.data.decode())


async def wait_for(check: Callable[[], Awaitable[bool] | bool], within: float = 20.0,
                   step: float = 0.05) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(step)


async def settled(dsn: str, within: float = 20.0) -> None:
    """Wait until every transaction that wrote before now has finished, so the built-in
    histograms (settled watermark) can observe its rows: take a transaction id, then wait
    for the exporter's own horizon (vigil_monitor.settled_horizon()) to pass it. Only this
    database's sessions hold it back, not other tests' databases."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
        assert row is not None
        mine = int(row[0])

        def passed() -> bool:
            h = conn.execute("SELECT vigil_monitor.settled_horizon()").fetchone()
            return h is not None and int(h[0]) > mine

        await wait_for(passed, within=within)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(exp: Exporter, collector: str, target: str = "db1") -> bool:
    spec = next(s for s in exp.targets[target].specs if s.name == collector)
    return await exp.run(target, spec)


class Proxy:
    """A TCP proxy to PostgreSQL that a test can stop (DB down) or pause (DB hung)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.conns: set[asyncio.StreamWriter] = set()
        self.port = 0

    def pause(self) -> None:
        """Keep every socket open but forward nothing: a hung database."""
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port or self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for w in list(self.conns):
                w.transport.abort()
            await self.server.wait_closed()
            self.server = None

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await r.read(65536):
                await self.flowing.wait()
                w.write(data)
                await w.drain()
        w.close()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.conns.add(w)
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            w.close()
            return
        self.conns.add(uw)
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w))
        self.conns.discard(w)
        self.conns.discard(uw)
