"""The router against a real PostgreSQL through FaultProxy: refuse, pause and freeze, each for
10 s, which is also longer than the pool's reconnect_timeout here (3 s), so the pool gives up
slots and must grow back by itself.

What must hold (issue #15): no page lost (a step that fell due during the fault is delivered
after it), none doubled (every idempotency key reaches the sink once), readiness 503 within
5 s of the fault, recovery with nobody's help, an alert refused with 503 during the fault is
stored when Alertmanager retries, and the outage costs a couple of log lines, not one per
tick. The timeouts are configured short so this suite stays well under three minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp import ClientSession, web

from faults.proxy import FaultProxy
from router.app import create_app
from router.config import load_config
from router.keys import ENGINE, SENDER
from router.migrate import migrate

# The router suite's helpers (real sink, payload builders, config writer) live next to it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "router"))
from router_helpers import (
    AUTH,
    Sink,
    am_alert,
    am_payload,
    serve_local,
    until,
    write_router_yml,
)

FAULT_SECONDS = 10.0
ESCALATION = """
severity: {label: severity, default: P3}
channels:
  sink: {type: webhook, url: "${VIGIL_SINK_URL}/notify", timeout: 2s}
targets:
  security-team: {channel: sink}
  cto: {channel: sink}
  legal: {channel: sink}
  team-lead: {channel: sink}
  on-call: {channel: sink}
  queue: {channel: sink}
levels:
  P1:
    response_time: 60s
    steps: [{delay: 0s, targets: [security-team]}, {delay: 3s, targets: [cto]}]
    notices: [{delay: 0s, targets: [legal]}]
    notify_on_resolve: false
  P2:
    response_time: 60s
    steps: [{delay: 0s, targets: [security-team]}, {delay: 3s, targets: [team-lead]}]
    notify_on_resolve: false
  P3:
    response_time: 60s
    steps: [{delay: 0s, targets: [on-call]}]
    notify_on_resolve: false
  P4:
    response_time: 60s
    steps: [{delay: 0s, targets: [queue]}]
    notify_on_resolve: false
"""
# Short client-side bounds: a frozen statement is abandoned after 1.5 s, readiness turns
# 503 after 2 s without an engine or sender success, the pool gives up a slot after 3 s.
DATABASE = {"pool_min": 2, "pool_max": 6, "pool_timeout": "1s", "connect_timeout": "1s",
            "statement_timeout": "1s", "op_timeout": "1500ms", "tcp_user_timeout": "2s",
            "keepalives_idle": "1s", "reconnect_timeout": "3s"}


@pytest.fixture
def proxied(fresh_db: str) -> Iterator[tuple[str, FaultProxy]]:
    migrate(fresh_db)
    port = int(psycopg.conninfo.conninfo_to_dict(fresh_db).get("port") or 5432)
    with FaultProxy(port) as proxy:
        yield psycopg.conninfo.make_conninfo(fresh_db, host="127.0.0.1",
                                             port=proxy.port), proxy


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.stop()


class Live:
    """A router with its engine and sender running on the real clock, behind the proxy."""

    def __init__(self, base: str, session: ClientSession, direct_dsn: str,
                 app: web.Application) -> None:
        self.base, self.session, self.direct_dsn, self.app = base, session, direct_dsn, app

    async def post(self, *alerts: dict[str, Any]) -> int:
        async with self.session.post(f"{self.base}/api/v1/alertmanager",
                                     json=am_payload(*alerts), headers=AUTH) as r:
            return r.status

    async def ready(self) -> int:
        async with self.session.get(f"{self.base}/-/ready") as r:
            return r.status

    def sent(self, key: str) -> bool:
        with psycopg.connect(self.direct_dsn, autocommit=True) as conn:
            row = conn.execute("SELECT state FROM vigil_router.outbox WHERE "
                               "idempotency_key = %s", (key,)).fetchone()
        return row is not None and row[0] == "sent"


@contextlib.asynccontextmanager
async def _serve(dsn: str, direct_dsn: str, sink: Sink, tmp_path: Path,
                 **engine: str) -> AsyncIterator[Live]:
    esc = tmp_path / "escalation.yml"
    esc.write_text(ESCALATION)
    path = write_router_yml(tmp_path, dsn, escalation=esc, database=DATABASE,
                            engine={"tick_interval": "200ms", "stall_after": "2s", **engine},
                            outbox={"poll_interval": "200ms", "backoff_initial": "500ms",
                                    "backoff_max": "2s", "max_attempts": 20})
    config = load_config(path, env={"VIGIL_SINK_URL": sink.url})
    app = create_app(config)
    runner, base = await serve_local(app)
    try:
        async with ClientSession() as session:
            yield Live(base, session, direct_dsn, app)
    finally:
        await runner.cleanup()


@pytest.fixture
async def live(proxied: tuple[str, FaultProxy], fresh_db: str, sink: Sink,
               tmp_path: Path) -> AsyncIterator[Live]:
    async with _serve(proxied[0], fresh_db, sink, tmp_path) as router:
        yield router


@pytest.mark.parametrize("mode", ["refuse", "pause", "freeze"])
async def test_a_database_fault_loses_and_doubles_no_page_and_heals_by_itself(
        mode: str, live: Live, proxied: tuple[str, FaultProxy], sink: Sink,
        caplog: pytest.LogCaptureFixture) -> None:
    _, proxy = proxied
    caplog.set_level(logging.INFO)
    await until(lambda: _is(live.ready(), 200), 10, "router ready")
    before = am_alert("Before", "P2", fingerprint="fp-before")
    assert await live.post(before) == 200
    key1 = "vigil-a1-step1-security-team"
    await until(lambda: live.sent(key1), 10, "the first page recorded as sent")
    caplog.clear()

    getattr(proxy, mode)()
    faulted = time.monotonic()
    # Readiness follows the engine and the sender, not a fresh connection: 503 within 5 s.
    await until(lambda: _is(live.ready(), 503), 5, f"/-/ready 503 after {mode}")
    assert time.monotonic() - faulted <= 5.0
    # An alert during the fault is refused with 503 (Alertmanager retries), never hangs.
    during = am_alert("During", "P1", fingerprint="fp-during")
    started = time.monotonic()
    assert await live.post(during) == 503
    assert time.monotonic() - started < 5.0
    await asyncio.sleep(max(0.0, FAULT_SECONDS - (time.monotonic() - faulted)))  # the fault
    proxy.heal()

    # Recovery by itself: ready again, and Alertmanager's retry of the refused alert lands.
    await until(lambda: _is(live.ready(), 200), 30, f"/-/ready 200 after {mode} healed")
    await until(lambda: _is(live.post(during), 200), 15, "the retried alert stored")
    await until(lambda: len(sink.received) >= 5, 30, "every page delivered")
    got = sorted((r.target, r.kind) for r in sink.received)
    assert got == sorted([("security-team", "escalation"), ("team-lead", "escalation"),  # Before
                          ("security-team", "escalation"), ("cto", "escalation"),  # During
                          ("legal", "notice")]), got
    assert all(n == 1 for n in sink.keys().values()), sink.keys()   # none doubled
    # The team-lead step of "Before" fell due during the fault and went out after it.
    assert sink.keys()["vigil-a1-step2-team-lead"] == 1

    # Quiet: one warning on entering the outage, one line on leaving it.
    router_lines = [r for r in caplog.records if r.name.startswith("vigil.router")]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) <= 2, [(r.name, r.getMessage()) for r in warnings]
    assert [r.getMessage() for r in router_lines].count("database available again") >= 1
    lines = [r for r in caplog.records if r.name != "aiohttp.access"]
    assert len(lines) <= 10, [(r.name, r.getMessage()) for r in lines]


async def _is(status: Any, want: int) -> bool:
    try:
        return bool(await status == want)
    except Exception:
        return False


async def test_a_resolve_retried_through_an_outage_keeps_the_page_due_during_it(
        proxied: tuple[str, FaultProxy], fresh_db: str, sink: Sink, tmp_path: Path) -> None:
    """Finding #15.1 exactly: the alert is stored, the database is refused before the next
    engine tick, the team-lead step falls due during the fault and the alert ends after
    that; Alertmanager's resolve (503 until the database returns) is processed before the
    overdue step fires. The engine is held back (an hour between ticks) so the resolve
    surely wins, then ticked by hand: the page still goes out, once, and nothing else."""
    dsn, proxy = proxied
    async with _serve(dsn, fresh_db, sink, tmp_path, tick_interval="1h",
                      stall_after="2h") as live:
        await until(lambda: _is(live.ready(), 200), 10, "router ready")
        await asyncio.sleep(0.5)   # the engine's first tick (at start) is behind us
        firing = am_alert("Race", "P2", fingerprint="fp-race")
        assert await live.post(firing) == 200
        proxy.refuse()
        await asyncio.sleep(4.0)   # the fault; step 1 (0 s) and team-lead (3 s) fall due
        ended = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        resolved = {**am_alert("Race", "P2", fingerprint="fp-race", status="resolved"),
                    "endsAt": ended}
        assert await live.post(resolved) == 503
        proxy.heal()
        await until(lambda: _is(live.post(resolved), 200), 15, "the retried resolve stored")
        await live.app[ENGINE].tick()   # the overdue steps, after the resolve
        live.app[SENDER].wake()
        await until(lambda: len(sink.received) >= 2, 15, "the pages due during the fault")
        assert sorted(sink.keys()) == ["vigil-a1-step1-security-team",
                                       "vigil-a1-step2-team-lead"]
        assert all(n == 1 for n in sink.keys().values()), sink.keys()
