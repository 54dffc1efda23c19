"""On-call schedules through the real router and PostgreSQL (#14 part 3).

A P3 step targets the schedule ``primary`` (the shipped escalation.yml's "on-call"): the page
goes to whoever is on call when the step fires, not when the alert arrived, and the timeline
names them and how (rotation, override, fallback). The hand-off at the New York
spring-forward jump is announced to the incoming person once, with two router replicas
ticking at the same instant. Time is a ManualClock: nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from router_helpers import REPO, Router, am_alert, am_payload

from router.keys import ENGINE


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


NEW_YORK = {
    "time_zone": "America/New_York",
    "rotation": {"every": "daily", "handoff": "02:30", "start": "2026-03-07",
                 "people": ["alice", "bob"]},
    "overrides": [{"who": "carol", "start": "2026-03-08T12:00", "end": "2026-03-08T14:00"}]}


def write_files(tmp: Path, primary: dict[str, Any] = NEW_YORK) -> tuple[Path, Path]:
    """The shipped matrix with a second P3 step 2 h later, and by default a schedule around
    the 2026-03-08 spring-forward: daily hand-off at 02:30 New York (skipped that night: at
    the jump, 07:00 UTC), alice from 03-07, then bob; carol overrides 12:00-14:00 EDT on
    03-08."""
    esc = yaml.safe_load((REPO / "config" / "escalation.yml").read_text())
    esc["levels"]["P3"]["steps"].append({"delay": "2h", "targets": ["on-call"]})
    oncall = yaml.safe_load((REPO / "config" / "oncall.yml").read_text())
    oncall["schedules"]["primary"].update(primary)
    (tmp / "esc.yml").write_text(yaml.safe_dump(esc))
    (tmp / "oncall.yml").write_text(yaml.safe_dump(oncall))
    return tmp / "esc.yml", tmp / "oncall.yml"


async def alert(r: Router, name: str) -> int:
    resp = await r.post(am_payload(am_alert(name, "P3")))
    assert resp.status == 200
    _, body = await r.api("GET", f"/api/v1/alerts?label=alertname={name}")
    return int(body["alerts"][0]["id"])


async def oncall_events(r: Router, alert_id: int) -> list[dict[str, Any]]:
    status, body = await r.api("GET", f"/api/v1/alerts/{alert_id}/timeline")
    assert status == 200
    return [e["detail"]["oncall"]["on-call"] for e in body["events"]
            if e["kind"] == "escalated" and "oncall" in e["detail"]]


def pages(r: Router, alert_id: int) -> list[tuple[str, int, str | None]]:
    return [(x.target, x.payload["step"], x.payload["oncall"]["person"])
            for x in r.sink.received
            if x.kind == "escalation" and x.payload["alert"]["id"] == alert_id]


async def test_a_schedule_target_pages_whoever_is_on_call_when_the_step_fires(
        make_router: Callable[..., Any], tmp_path: Path) -> None:
    esc, oncall = write_files(tmp_path)
    r: Router = await make_router(escalation=esc, oncall_file=str(oncall))
    replica: Router = await make_router(escalation=esc, oncall_file=str(oncall))

    # Before the rotation's first hand-off nobody is scheduled: the fallback is paged.
    r.clock.set(utc(2026, 3, 7, 6))
    early = await alert(r, "Early")
    await r.run()
    assert pages(r, early) == [("team-lead", 1, None)]
    assert await oncall_events(r, early) == [
        {"schedule": "primary", "person": None, "via": "fallback", "fallback": "team-lead"}]
    status, _ = await r.api("POST", f"/api/v1/alerts/{early}/ack", json={"who": "t"})
    assert status == 200

    # 03-08 01:00 EST: alice (her shift from 03-07 02:30 EST) gets step 1 ...
    r.clock.set(utc(2026, 3, 8, 6))
    spring = await alert(r, "Spring")
    await r.run()
    assert pages(r, spring) == [("alice/sink", 1, "alice")]

    # ... the clocks jump at 07:00 UTC: bob takes over at 03:00 EDT. Both replicas tick at
    # that instant: bob hears it once.
    for router in (r, replica):
        router.clock.set(utc(2026, 3, 8, 7))
    await asyncio.gather(r.client.server.app[ENGINE].tick(),
                         replica.client.server.app[ENGINE].tick())
    await r.run()
    await replica.run()
    handoffs = [x for x in r.sink.received if x.kind == "handoff"]
    assert [(x.target, x.payload["oncall"]["person"]) for x in handoffs] == [
        ("bob/sink", "bob")]
    assert handoffs[0].payload["oncall"]["since"] == "2026-03-08T07:00:00+00:00"
    assert r.sql("SELECT schedule, person FROM vigil_router.handoffs") == [("primary", "bob")]

    # Step 2, due 2 h after the alert, fires at 08:00 UTC: to bob, on call now, not alice.
    r.clock.set(utc(2026, 3, 8, 8))
    await r.run()
    assert pages(r, spring) == [("alice/sink", 1, "alice"), ("bob/sink", 2, "bob")]
    assert await oncall_events(r, spring) == [
        {"schedule": "primary", "person": "alice", "via": "rotation"},
        {"schedule": "primary", "person": "bob", "via": "rotation"}]

    # carol's override (12:00-14:00 EDT) wins over bob's shift, and she hears of it once.
    r.clock.set(utc(2026, 3, 8, 16, 30))
    covered = await alert(r, "Covered")
    await r.run()
    r.clock.set(utc(2026, 3, 8, 16, 45))
    await r.run()
    assert pages(r, covered) == [("carol/sink", 1, "carol")]
    assert await oncall_events(r, covered) == [
        {"schedule": "primary", "person": "carol", "via": "override"}]
    assert sorted(x.target for x in r.sink.received if x.kind == "handoff") == [
        "bob/sink", "carol/sink"]
    # every delivery once, by its idempotency key; one row per hand-off, whoever ticked
    assert max(r.sink.keys().values()) == 1
    await replica.run()
    assert r.sql("SELECT person FROM vigil_router.handoffs ORDER BY since") == [
        ("bob",), ("carol",)]
    assert r.sql("SELECT count(*) FROM vigil_router.outbox WHERE kind = 'handoff'") == [(2,)]


async def test_london_fall_back_hands_off_at_the_first_1_30_only(
        make_router: Callable[..., Any], tmp_path: Path) -> None:
    # Daily at 01:30 London: on 2026-10-25 01:30 is read at 00:30 UTC (BST) and again at
    # 01:30 UTC (GMT). bob takes over at the first reading; the second changes nothing.
    esc, oncall = write_files(tmp_path, {
        "time_zone": "Europe/London", "overrides": [],
        "rotation": {"every": "daily", "handoff": "01:30", "start": "2026-10-24",
                     "people": ["alice", "bob"]}})
    r: Router = await make_router(escalation=esc, oncall_file=str(oncall))
    r.clock.set(utc(2026, 10, 25, 0, 15))
    fall = await alert(r, "Fall")
    await r.run()
    for at in (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 2, 15)):
        r.clock.set(at)
        await r.run()
    assert pages(r, fall) == [("alice/sink", 1, "alice"), ("bob/sink", 2, "bob")]
    handoffs = [x.payload["oncall"] for x in r.sink.received if x.kind == "handoff"]
    assert [(h["person"], h["since"]) for h in handoffs] == [
        ("bob", "2026-10-25T00:30:00+00:00")]
    assert handoffs[0]["until"] == "2026-10-26T01:30:00+00:00"   # 01:30 GMT: a 25-hour shift


async def test_an_incident_response_reaches_the_person_on_call(
        make_router: Callable[..., Any], tmp_path: Path) -> None:
    esc, oncall = write_files(tmp_path)
    r: Router = await make_router(escalation=esc, oncall_file=str(oncall))
    r.clock.set(utc(2026, 3, 8, 8))
    status, inc = await r.api("POST", "/api/v1/incidents", json={
        "type": "performance", "severity": "P3", "description": "slow", "who": "t"})
    assert status in (200, 201), inc
    status, body = await r.api("POST", f"/api/v1/incidents/{inc['id']}/respond",
                               json={"who": "t"})
    assert status == 200, body
    await r.run()
    assert [x.target for x in r.sink.received if x.kind == "incident"] == ["bob/sink"]
    status, tl = await r.api("GET", f"/api/v1/incidents/{inc['id']}/timeline")
    [started] = [e for e in tl["events"] if e["kind"] == "response_initiated"]
    assert started["detail"]["oncall"]["on-call"]["person"] == "bob"
