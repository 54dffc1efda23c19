"""The shipped config/escalation.yml escalates each level on the runbook's schedule."""

from __future__ import annotations

from router_helpers import ON_CALL, Router, am_alert, am_payload


async def _alert(router: Router, severity: str, name: str = "Sig") -> int:
    resp = await router.post(am_payload(am_alert(name, severity)))
    assert resp.status == 200, await resp.text()
    rows = router.sql("SELECT id FROM vigil_router.alerts WHERE alertname = %s", name)
    return int(rows[0][0])


async def test_p1_pages_security_team_then_cto_and_notifies_cto_and_legal(router: Router) -> None:
    aid = await _alert(router, "P1")
    await router.run()
    assert router.sink.targets("escalation", aid) == ["security-team"]
    assert router.sink.targets("notice", aid) == ["cto", "legal"]
    await router.advance(minutes=14, seconds=59)
    assert router.sink.targets("escalation", aid) == ["security-team"]
    await router.advance(seconds=1)
    assert router.sink.targets("escalation", aid) == ["cto", "security-team"]
    _, alert = await router.api("GET", f"/api/v1/alerts/{aid}")
    assert alert["sla_breached"] is True


async def test_p2_pages_security_team_then_team_lead_after_an_hour(router: Router) -> None:
    aid = await _alert(router, "P2")
    await router.run()
    assert router.sink.targets(None, aid) == ["security-team"]
    await router.advance(minutes=59)
    assert router.sink.targets(None, aid) == ["security-team"]
    await router.advance(minutes=1)
    assert router.sink.targets(None, aid) == ["security-team", "team-lead"]


async def test_p3_pages_on_call_and_breaches_sla_after_four_hours(router: Router) -> None:
    aid = await _alert(router, "P3")
    await router.run()
    assert router.sink.targets(None, aid) == [ON_CALL]
    await router.advance(hours=3, minutes=59)
    assert router.sql("SELECT sla_breached FROM vigil_router.alerts")[0][0] is False
    await router.advance(minutes=1)
    assert router.sql("SELECT sla_breached FROM vigil_router.alerts")[0][0] is True
    assert router.sink.targets(None, aid) == [ON_CALL]


async def test_p4_goes_to_the_regular_queue_with_a_24h_deadline(router: Router) -> None:
    aid = await _alert(router, "P4")
    await router.run()
    assert router.sink.targets(None, aid) == ["queue"]
    _, alert = await router.api("GET", f"/api/v1/alerts/{aid}")
    assert alert["response_deadline"].startswith("2026-01-02T00:00:00")


async def test_ack_stops_escalation_but_not_the_p1_legal_notice(router: Router) -> None:
    aid = await _alert(router, "P1")
    status, body = await router.api("POST", f"/api/v1/alerts/{aid}/ack",
                                    json={"who": "alice", "note": "on it"})
    assert status == 200 and body["status"] == "acked"
    await router.run()
    # Acked before the first tick: no page, but CTO and Legal are told regardless.
    assert router.sink.targets("escalation", aid) == []
    assert router.sink.targets("notice", aid) == ["cto", "legal"]
    await router.advance(hours=2)
    assert router.sink.targets("escalation", aid) == []
    _, tl = await router.api("GET", f"/api/v1/alerts/{aid}/timeline")
    kinds = [e["kind"] for e in tl["events"]]
    assert kinds[:2] == ["received", "acked"] and "sla_breached" not in kinds


async def test_ack_after_first_page_stops_the_cto_step(router: Router) -> None:
    aid = await _alert(router, "P1")
    await router.run()
    await router.advance(minutes=5)
    await router.api("POST", f"/api/v1/alerts/{aid}/ack", json={"who": "bob"})
    await router.advance(hours=3)
    assert router.sink.targets("escalation", aid) == ["security-team"]
    status, _ = await router.api("POST", f"/api/v1/alerts/{aid}/ack", json={"who": "bob"})
    assert status == 409


async def test_resolve_ends_escalation_and_tells_everyone_notified(router: Router) -> None:
    aid = await _alert(router, "P1")
    await router.run()
    resolved = am_alert("Sig", "P1", status="resolved")
    assert (await router.post(am_payload(resolved))).status == 200
    await router.advance(hours=2)
    assert router.sink.targets("escalation", aid) == ["security-team"]
    assert router.sink.targets("resolved", aid) == ["cto", "legal", "security-team"]
    # A repeat of the resolve is a duplicate, not a second resolve.
    await router.post(am_payload(resolved))
    await router.run()
    assert router.sink.targets("resolved", aid) == ["cto", "legal", "security-team"]


async def test_p1_resolved_before_first_tick_still_pages_and_notifies_legal(
        router: Router) -> None:
    aid = await _alert(router, "P1")
    status, _ = await router.api("POST", f"/api/v1/alerts/{aid}/resolve", json={"who": "carol"})
    assert status == 200
    await router.advance(hours=1)
    # The first step was due (0 s) when the resolve came: it fires (docs/router.md#resolve-rule);
    # the CTO step (15 min) was not, and is cancelled.
    assert router.sink.targets("escalation", aid) == ["security-team"]
    assert "legal" in router.sink.targets("notice", aid)


async def test_p1_repeats_the_cto_page_until_acked(router: Router) -> None:
    aid = await _alert(router, "P1")
    await router.run()
    await router.advance(minutes=15)
    await router.advance(minutes=15)
    assert router.sink.targets("escalation", aid) == ["cto", "cto", "security-team"]
    await router.api("POST", f"/api/v1/alerts/{aid}/ack", json={"who": "cto"})
    await router.advance(hours=5)
    assert router.sink.targets("escalation", aid) == ["cto", "cto", "security-team"]
    keys = router.sink.keys()
    assert all(n == 1 for n in keys.values())
    assert {r.header_key for r in router.sink.received} == set(keys)


async def test_escalation_and_resolve_notices_carry_the_same_alert_summary(
        router: Router) -> None:
    """The engine's pages and the API resolve's notices: the same alert shape (both built
    by vigil_router.alert_summary, migration 0005)."""
    aid = await _alert(router, "P1", "Shape")
    await router.run()
    status, _ = await router.api("POST", f"/api/v1/alerts/{aid}/resolve", json={"who": "ops"})
    assert status == 200
    await router.run()
    by_kind = {r.kind: r.payload for r in router.sink.received if r.target == "security-team"}
    sql_made, py_made = by_kind["escalation"]["alert"], by_kind["resolved"]["alert"]
    assert sql_made.pop("status") == "open" and py_made.pop("status") == "resolved"
    assert sql_made == py_made
    assert sql_made["starts_at"] == "2026-01-01T00:00:00.123456+00:00"
    assert sql_made["url"] == f"{router.config.router.public_url}/api/v1/alerts/{aid}"
    esc = by_kind["escalation"]
    assert set(esc) == {"idempotency_key", "kind", "target", "channel", "step", "due_at",
                        "alert"}
    assert esc["idempotency_key"] == f"vigil-a{aid}-step1-security-team"
    assert esc["due_at"] == router.clock.now().isoformat()
