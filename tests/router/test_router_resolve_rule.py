"""The resolve rule (docs/router.md#resolve-rule): a step that fell due while its alert was
open fires even when the resolve is processed first (a database outage held the engine
back while Alertmanager retried the resolve), and its target hears of the resolve after the
page; a P1 first seen already resolved still sends its notices."""

from __future__ import annotations

from datetime import timedelta

from router_helpers import Router, am_alert, am_payload

T0 = "2026-01-01T00:00:00Z"   # the ManualClock's start: the firing alert arrives then


def _resolved(name: str, severity: str, ends: str) -> dict[str, object]:
    return {**am_alert(name, severity, status="resolved", starts=T0), "endsAt": ends}


def _order(router: Router, aid: int, target: str) -> list[str]:
    return [r.kind for r in router.sink.received
            if r.target == target and r.payload["alert"]["id"] == aid]


async def _fire(router: Router, name: str, severity: str) -> int:
    resp = await router.post(am_payload(am_alert(name, severity, starts=T0)))
    assert resp.status == 200
    return int(router.sql("SELECT id FROM vigil_router.alerts WHERE alertname = %s", name)[0][0])


async def _ended_while_held_back(router: Router, name: str, severity: str, *,
                                 held: timedelta, ended_after: timedelta) -> int:
    """Fire ``name``, let ``held`` pass with no engine tick (the database was refused), then
    the resolve arrives saying it ended ``ended_after`` the start. Returns the alert id."""
    aid = await _fire(router, name, severity)
    start = router.clock.now()
    router.clock.advance(held)
    ends = (start + ended_after).isoformat().replace("+00:00", "Z")
    assert (await router.post(am_payload(_resolved(name, severity, ends)))).status == 200
    return aid


async def test_a_page_due_before_the_alert_ended_fires_though_the_resolve_came_first(
        router: Router) -> None:
    # No engine tick for 65 minutes: step 1 (0 s) and step 2 (team-lead, 1 h) fell due while
    # the alert was open; it ended at 62 min.
    aid = await _ended_while_held_back(router, "Outage", "P2", held=timedelta(minutes=65),
                                       ended_after=timedelta(minutes=62))
    await router.run()
    assert router.sink.targets("escalation", aid) == ["security-team", "team-lead"]
    assert router.sink.targets("resolved", aid) == ["security-team", "team-lead"]
    for target in ("security-team", "team-lead"):
        assert _order(router, aid, target) == ["escalation", "resolved"]
    await router.advance(hours=3)   # the repeat (2 h) was due after the end: cancelled
    assert router.sink.targets("escalation", aid) == ["security-team", "team-lead"]
    assert all(n == 1 for n in router.sink.keys().values())


async def test_a_step_due_after_the_alert_ended_is_cancelled(router: Router) -> None:
    aid = await _ended_while_held_back(router, "Short", "P2", held=timedelta(minutes=65),
                                       ended_after=timedelta(minutes=10))
    await router.advance(hours=3)
    # The first step always fires for an alert seen firing; team-lead was due after the end.
    assert router.sink.targets("escalation", aid) == ["security-team"]
    assert _order(router, aid, "security-team") == ["escalation", "resolved"]


async def test_a_p1_page_due_during_an_outage_reaches_the_security_team(
        router: Router) -> None:
    aid = await _ended_while_held_back(router, "Breach", "P1", held=timedelta(seconds=30),
                                       ended_after=timedelta(seconds=20))
    await router.run()
    assert router.sink.targets("escalation", aid) == ["security-team"]
    assert router.sink.targets("notice", aid) == ["cto", "legal"]
    assert router.sink.targets("resolved", aid) == ["cto", "legal", "security-team"]
    for target in ("security-team", "cto", "legal"):
        assert _order(router, aid, target)[-1] == "resolved"


async def test_a_p1_first_seen_resolved_still_notifies_cto_and_legal(router: Router) -> None:
    resp = await router.post(am_payload(_resolved("Gone", "P1", T0)))
    assert resp.status == 200
    aid = int(router.sql("SELECT id FROM vigil_router.alerts")[0][0])
    await router.advance(hours=2)
    # Never open here: no page; the notices go out whatever happens, then the resolve.
    assert router.sink.targets("escalation", aid) == []
    assert router.sink.targets("notice", aid) == ["cto", "legal"]
    assert router.sink.targets("resolved", aid) == ["cto", "legal"]
    for target in ("cto", "legal"):
        assert _order(router, aid, target) == ["notice", "resolved"]


async def test_an_api_resolve_keeps_the_page_that_was_already_due(router: Router) -> None:
    aid = await _fire(router, "Human", "P1")
    router.clock.advance(minutes=20)   # no tick: step 1 (0 s) and the CTO (15 min) are due
    status, _ = await router.api("POST", f"/api/v1/alerts/{aid}/resolve", json={"who": "dan"})
    assert status == 200
    await router.advance(hours=2)
    assert router.sink.targets("escalation", aid) == ["cto", "security-team"]
    assert _order(router, aid, "cto")[-1] == "resolved"
