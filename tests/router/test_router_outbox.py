"""The outbox: retries with backoff, dead letters, and a hung target delays no one."""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import yaml
from router_helpers import ON_CALL, REPO, Router, am_alert, am_payload, until

from router.config import Outbox
from router.keys import ENGINE, SENDER
from router.outbox import backoff


def test_backoff_is_exponential_and_capped() -> None:
    cfg = Outbox(backoff_initial=1.0, backoff_max=8.0)
    assert [backoff(cfg, n) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]


async def test_failed_delivery_is_retried_with_backoff_then_delivered(router: Router) -> None:
    router.sink.fail["security-team"] = 2
    await router.post(am_payload(am_alert("Retry", "P3")))
    await router.post(am_payload(am_alert("Retry2", "P1")))
    await router.run()
    assert "security-team" not in router.sink.targets()
    await router.advance(seconds=1)   # second attempt after 1 s: fails again
    assert "security-team" not in router.sink.targets()
    await router.advance(seconds=1)   # third attempt is due only after 2 s
    assert "security-team" not in router.sink.targets()
    await router.advance(seconds=1)
    assert router.sink.targets("escalation").count("security-team") == 1
    _, tl = await router.api("GET", "/api/v1/alerts/2/timeline")
    kinds = [e["kind"] for e in tl["events"]]
    assert kinds.count("delivery_failed") == 2 and "notified" in kinds


async def test_dead_letters_are_visible_in_api_and_metrics(router: Router) -> None:
    router.sink.status[ON_CALL] = 500
    await router.post(am_payload(am_alert("Dead", "P3")))
    await router.run()
    for _ in range(4):
        await router.advance(seconds=10)
    status, body = await router.api("GET", "/api/v1/outbox?state=dead")
    assert status == 200
    assert [(d["target"], d["attempts"]) for d in body["deliveries"]] == [(ON_CALL, 4)]
    metrics = await (await router.client.get("/metrics")).text()
    assert "vigil_router_outbox_dead 1.0" in metrics
    assert ('vigil_router_notifications_total{channel="sink",outcome="dead",'
            f'target="{ON_CALL}"}} 1.0' in metrics)
    _, tl = await router.api("GET", "/api/v1/alerts/1/timeline")
    assert tl["events"][-1]["kind"] == "delivery_dead"


async def test_a_client_error_is_final_at_once(router: Router) -> None:
    router.sink.status["queue"] = 404
    await router.post(am_payload(am_alert("Gone", "P4")))
    await router.run()
    assert router.sql("SELECT state, attempts FROM vigil_router.outbox") == [("dead", 1)]


async def test_a_hung_target_does_not_delay_the_others(make_router: Any, tmp_path: Path) -> None:
    esc = yaml.safe_load((REPO / "config" / "escalation.yml").read_text())
    esc["channels"]["sink"]["timeout"] = "3s"
    path = tmp_path / "escalation.yml"
    path.write_text(yaml.safe_dump(esc))
    r: Router = await make_router(escalation=path)
    r.sink.hang.add("security-team")
    await r.post(am_payload(am_alert("Hang", "P1")))
    app = r.client.server.app
    await app[ENGINE].tick()
    started = time.monotonic()
    await app[SENDER].pump()
    await until(lambda: r.sink.targets() == ["cto", "legal"], 2, "cto and legal notified")
    assert time.monotonic() - started < 1.0  # not held up by the 3 s hang
    await app[SENDER].drain()
    assert r.sql("SELECT last_error FROM vigil_router.outbox WHERE target = 'security-team'"
                 ) == [("timed out after 3s",)]


async def test_a_burst_leaves_as_slots_free_up_while_a_hung_target_holds_only_its_share(
        make_router: Any, tmp_path: Path) -> None:
    # 10 s poll interval: anything beyond the first claim must be claimed because slots
    # freed up, not on a tick. The hung target (security-team) has 40 deliveries due first.
    esc = yaml.safe_load((REPO / "config" / "escalation.yml").read_text())
    esc["channels"]["sink"]["timeout"] = "20s"
    path = tmp_path / "escalation.yml"
    path.write_text(yaml.safe_dump(esc))
    r: Router = await make_router(escalation=path, outbox={
        "poll_interval": "10s", "concurrency": 16, "per_target_concurrency": 4})
    r.sink.hang.add("security-team")
    await r.post(am_payload(*[am_alert(f"Hung{i}", "P2") for i in range(40)]))
    for batch in range(3):
        await r.post(am_payload(*[am_alert(f"Fast{batch}-{i}", "P3" if i % 2 else "P4")
                                  for i in range(100)]))
    app = r.client.server.app
    await app[ENGINE].tick()
    sender = app[SENDER]
    fast = {ON_CALL, "queue"}
    started = time.monotonic()
    loop = asyncio.create_task(sender.run())
    try:
        await until(lambda: len([t for t in r.sink.targets() if t in fast]) == 300, 10,
                    "300 fast deliveries")
        took = time.monotonic() - started
        # Their results recorded, only the hung target's share is still in flight.
        await until(lambda: len(sender.inflight) == 4, 5, "fast results recorded")
        assert dict(sender.busy) == {"security-team": 4}   # its share, not every slot
    finally:
        loop.cancel()
        with suppress(asyncio.CancelledError):
            await loop
        await sender.close()
    # 300 deliveries through 12 free slots, each claim triggered by finished ones: far
    # below one poll interval (10 s) and the hung target's timeout (20 s).
    assert took < 5.0, took
    assert sorted(r.sink.keys().values()) == [1] * 300
    assert "security-team" not in r.sink.targets()


async def test_a_failing_target_is_probed_not_flooded(make_router: Any) -> None:
    r: Router = await make_router(outbox={"concurrency": 16, "per_target_concurrency": 4,
                                          "backoff_initial": "1s"})
    r.sink.status[ON_CALL] = 503
    await r.post(am_payload(*[am_alert(f"Down{i}", "P3") for i in range(20)]))
    app = r.client.server.app
    await app[ENGINE].tick()
    sender = app[SENDER]

    def attempts() -> list[int]:
        return [n for (n,) in r.sql("SELECT attempts FROM vigil_router.outbox ORDER BY id")]

    assert await sender.pump() == 4            # its share of the slots
    await sender.drain()
    assert await sender.pump() == 0            # it just failed: nothing new for 1 s
    assert sorted(attempts()) == [0] * 16 + [1] * 4   # the others keep their attempts
    del r.sink.status[ON_CALL]               # it recovers
    r.clock.advance(seconds=1)
    while await sender.pump():
        await sender.drain()
    assert len(r.sink.targets()) == 20
    assert sorted(attempts()) == [1] * 16 + [2] * 4
