"""Real router processes on one database: two replicas, one killed with kill -9 mid-escalation
and restarted; every due step reaches the sink exactly once (counted by idempotency key)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from router_helpers import (
    AUTH,
    REPO,
    Sink,
    am_alert,
    am_payload,
    until,
    write_router_yml,
)
from support.polling import async_child, free_port

from router.config import Outbox

FAST = Path(__file__).parent / "escalation-fast.yml"


class Proc:
    def __init__(self, config: Path, port: int, sink_url: str, log: Path,
                 *args: str) -> None:
        self.config, self.port, self.sink_url, self.log = config, port, sink_url, log
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Proc:
        env = {**os.environ, "VIGIL_SINK_URL": self.sink_url}
        with self.log.open("ab") as out:
            self.proc = await async_child(
                [sys.executable, "-m", "vigil.cli", "router", "--config", str(self.config),
                 *self.args], cwd=REPO, env=env, stdout=out, stderr=out)
        async with aiohttp.ClientSession() as s:
            async def ready() -> bool:
                assert self.proc and self.proc.returncode is None, self.log.read_text()
                try:
                    async with s.get(f"http://127.0.0.1:{self.port}/-/ready") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False
            await until(ready, 20, f"router on port {self.port} ready")
        return self

    def kill9(self) -> None:
        assert self.proc
        os.kill(self.proc.pid, signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def procs(router_db: str, sink: Sink, tmp_path: Path) -> AsyncIterator[Any]:
    started: list[Proc] = []

    async def start(name: str, port: int | None = None) -> Proc:
        port = port or free_port()
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        cfg = write_router_yml(d, router_db, escalation=FAST, port=port,
                               engine={"tick_interval": "200ms"},
                               outbox={"poll_interval": "200ms", "lease": "3s"})
        p = await Proc(cfg, port, sink.url, d / "router.log").start()
        started.append(p)
        return p

    yield start
    for p in started:
        await p.stop()


async def test_listen_address_flag_overrides_the_config(router_db: str, sink: Sink,
                                                        tmp_path: Path) -> None:
    configured, flagged = free_port(), free_port()
    cfg = write_router_yml(tmp_path, router_db, escalation=FAST, port=configured)
    p = await Proc(cfg, flagged, sink.url, tmp_path / "router.log",
                   "--web.listen-address", f"127.0.0.1:{flagged}").start()  # ready on flagged
    try:
        await post(flagged, am_payload(am_alert("Flag", "P3")))
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.ClientConnectionError):
                await s.get(f"http://127.0.0.1:{configured}/-/healthy")
    finally:
        await p.stop()


async def post(port: int, payload: Any) -> None:
    async with aiohttp.ClientSession() as s, s.post(
            f"http://127.0.0.1:{port}/api/v1/alertmanager", json=payload, headers=AUTH) as r:
        assert r.status == 200, await r.text()


def expected_keys(dsn: str) -> set[str]:
    """Every (alert, step, target) the plan makes due, from the alerts actually stored."""
    keys = set()
    with psycopg.connect(dsn) as conn:
        for aid, sev in conn.execute("SELECT id, severity FROM vigil_router.alerts"):
            if sev == "P1":
                keys |= {f"vigil-a{aid}-step1-security-team", f"vigil-a{aid}-step2-cto",
                         f"vigil-a{aid}-step3-cto", f"vigil-a{aid}-step4-cto",
                         f"vigil-a{aid}-notice1-cto", f"vigil-a{aid}-notice1-legal"}
            else:
                keys |= {f"vigil-a{aid}-step1-security-team", f"vigil-a{aid}-step2-team-lead"}
    return keys


@pytest.mark.slow
async def test_two_replicas_kill9_restart_every_step_exactly_once(
        procs: Any, sink: Sink, router_db: str) -> None:
    a = await procs("a")
    b = await procs("b")
    for i in range(20):
        alerts = [am_alert(f"K{i}-{j}", "P1" if j % 2 else "P2") for j in range(5)]
        await post(a.port if i % 2 else b.port, am_payload(*alerts))
    want = expected_keys(router_db)
    assert len(want) == 40 * 6 + 60 * 2  # 40 P1 alerts (6 keys each), 60 P2 alerts (2 each)
    # Mid-escalation: first pages are out, the 2 s steps are not yet due.
    await until(lambda: len(sink.keys()) >= 50, 10, "first deliveries")
    a.kill9()
    await asyncio.sleep(0)  # let the kill land before the restart
    a2 = await procs("a", a.port)
    await until(lambda: set(sink.keys()) >= want, 30, "every due step delivered")
    with psycopg.connect(router_db) as conn:
        pending = conn.execute("SELECT count(*) FROM vigil_router.steps WHERE state = 'pending' "
                               "AND kind <> 'sla'").fetchone()
        outbox = conn.execute("SELECT count(*), count(DISTINCT idempotency_key) "
                              "FROM vigil_router.outbox").fetchone()
    assert pending == (0,)
    assert set(sink.keys()) == want                   # none lost, nothing unplanned
    assert outbox == (len(want), len(want))           # each step enqueued exactly once
    # At-least-once transport: only a delivery in flight at the kill may repeat, and the
    # sink drops it by key. Nothing else is doubled.
    doubled = [k for k, n in sink.keys().items() if n > 1]
    assert len(doubled) <= Outbox().concurrency, doubled   # the slots in flight
    assert a2.proc and a2.proc.returncode is None and b.proc and b.proc.returncode is None


@pytest.mark.slow
async def test_overdue_steps_fire_promptly_after_a_restart(procs: Any, sink: Sink,
                                                           router_db: str) -> None:
    a = await procs("solo")
    await post(a.port, am_payload(am_alert("Overdue", "P1")))
    # Kill once the first page and the notices are recorded as sent (a kill between a send
    # and its record is the at-least-once window the two-replica test covers).
    await until(lambda: _sent(router_db) == 3, 10, "first page and notices recorded")
    a.kill9()
    with psycopg.connect(router_db) as conn:
        due = conn.execute("SELECT max(due_at) FROM vigil_router.steps WHERE kind = 'step'"
                           ).fetchone()
    assert due is not None
    await until(lambda: _now(router_db) > due[0], 10, "every step overdue")
    loop = asyncio.get_running_loop()
    await procs("solo", a.port)
    restarted = loop.time()
    await until(lambda: sink.targets("escalation").count("cto") == 3, 10, "overdue pages")
    assert loop.time() - restarted < 3.0
    assert sorted(sink.keys().values()) == [1] * len(sink.keys())


def _sent(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM vigil_router.outbox WHERE state = 'sent'"
                           ).fetchone()
    return int(row[0]) if row else 0


def _now(dsn: str) -> Any:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row
    return row[0]
