"""The alert and incident API, OpenAPI, health, metrics and the CLI client."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from router_helpers import TOKEN, Router, am_alert, am_payload

from router import client_cli


async def test_list_filters_by_status_severity_and_label(router: Router) -> None:
    await router.post(am_payload(am_alert("A", "P1", table="deal"), am_alert("B", "P3"),
                                 am_alert("C", "P3", table="deal")))
    _, body = await router.api("GET", "/api/v1/alerts?severity=P3")
    assert sorted(a["alertname"] for a in body["alerts"]) == ["B", "C"]
    _, body = await router.api("GET", "/api/v1/alerts?label=table=deal&severity=P3")
    assert [a["alertname"] for a in body["alerts"]] == ["C"]
    aid = body["alerts"][0]["id"]
    await router.api("POST", f"/api/v1/alerts/{aid}/ack", json={"who": "dana"})
    _, body = await router.api("GET", "/api/v1/alerts?status=acked")
    assert [a["alertname"] for a in body["alerts"]] == ["C"]
    status, body = await router.api("GET", "/api/v1/alerts?status=bogus")
    assert status == 400 and body["field"] == "status"


async def test_related_finds_same_name_or_shared_labels_in_the_window(router: Router) -> None:
    await router.post(am_payload(am_alert("A", "P1", table="deal"), am_alert("B", "P3",
                                 table="deal"), am_alert("A", "P2", fingerprint="other"),
                                 am_alert("Z", "P4", table="other")))
    ids = dict(router.sql("SELECT alertname || severity, id FROM vigil_router.alerts"))
    _, body = await router.api("GET", f"/api/v1/alerts/{ids['AP1']}/related")
    assert sorted((a["alertname"], a["same_alertname"], a["shared_labels"])
                  for a in body["related"]) == [("A", True, []), ("B", False, ["table"])]
    router.clock.advance(hours=2)
    await router.post(am_payload(am_alert("A", "P1", fingerprint="late")))
    _, body = await router.api("GET", f"/api/v1/alerts/{ids['AP1']}/related")
    assert len(body["related"]) == 2


async def test_context_shows_plan_and_deliveries(router: Router) -> None:
    await router.post(am_payload(am_alert("A", "P2")))
    await router.run()
    _, ctx = await router.api("GET", "/api/v1/alerts/1/context")
    assert [(p["kind"], p["state"]) for p in ctx["plan"]] == [
        ("step", "fired"), ("step", "pending"), ("sla", "pending"), ("step", "pending")]
    assert [(d["target"], d["state"]) for d in ctx["deliveries"]] == [("security-team", "sent")]
    assert ctx["response_time_seconds"] == 3600


async def test_incident_create_respond_and_timeline(router: Router) -> None:
    await router.post(am_payload(am_alert("A", "P1")))
    status, inc = await router.api("POST", "/api/v1/incidents", json={
        "type": "data-breach", "severity": "P1", "description": "audit chain broken",
        "alert_ids": [1], "created_by": "erin"})
    assert status == 201 and inc["alert_ids"] == [1] and inc["status"] == "open"
    status, inc = await router.api("POST", f"/api/v1/incidents/{inc['id']}/respond",
                                   json={"who": "erin"})
    assert status == 200 and inc["status"] == "responding"
    await router.run()
    assert sorted(r.target for r in router.sink.received if r.kind == "incident") == [
        "cto", "legal", "security-team"]
    status, _ = await router.api("POST", f"/api/v1/incidents/{inc['id']}/respond", json={})
    assert status == 409
    _, tl = await router.api("GET", f"/api/v1/incidents/{inc['id']}/timeline")
    assert [e["kind"] for e in tl["events"] if e["incident_id"] == inc["id"]][:3] == [
        "created", "status_changed", "response_initiated"]
    status, body = await router.api("POST", "/api/v1/incidents", json={"type": "x"})
    assert status == 400 and body["field"] == "severity"


async def test_openapi_health_ready_and_metrics(router: Router) -> None:
    doc = await (await router.client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/alertmanager" in doc["paths"] and doc["openapi"].startswith("3.")
    assert (await router.client.get("/-/healthy")).status == 200
    assert (await router.client.get("/-/ready")).status == 200
    await router.post(am_payload(am_alert("A", "P1")))
    await router.run()
    await router.api("POST", "/api/v1/alerts/1/ack", json={"who": "x"})
    text = await (await router.client.get("/metrics")).text()
    for line in ('vigil_router_open_alerts{severity="P1"} 1.0',
                 'vigil_router_escalations_total{severity="P1",step="1"} 1.0',
                 'vigil_router_time_to_ack_seconds_count{severity="P1"} 1.0',
                 # levels with no ack yet still have series, so per-level panels show 0
                 'vigil_router_time_to_ack_seconds_count{severity="P4"} 0.0',
                 "vigil_router_outbox_pending 0.0", "vigil_router_up 1.0",
                 'vigil_router_webhook_request_duration_seconds_count{code="200"} 1.0'):
        assert line in text, line


async def test_api_needs_credentials(router: Router) -> None:
    assert (await router.client.get("/api/v1/alerts")).status == 401


async def test_cli_client_lists_acks_and_opens_incidents(
        router: Router, capsys: pytest.CaptureFixture[str], aiohttp_server: Any) -> None:
    import asyncio

    await router.post(am_payload(am_alert("Cli", "P2")))
    url = str(router.client.make_url("")).rstrip("/")

    def run(*argv: str) -> int:
        parser = argparse.ArgumentParser()
        client_cli.register(parser.add_subparsers())
        args = parser.parse_args([*argv, "--url", url, "--token", TOKEN])
        code: int = args.func(args)
        return code

    assert await asyncio.to_thread(run, "alert", "list", "--severity", "P2") == 0
    assert "Cli" in capsys.readouterr().out
    assert await asyncio.to_thread(run, "alert", "ack", "1", "--who", "frank") == 0
    assert await asyncio.to_thread(run, "alert", "timeline", "1") == 0
    assert "acked" in capsys.readouterr().out
    assert await asyncio.to_thread(run, "incident", "create", "--type", "t", "--severity",
                                   "P2", "--description", "d", "--alert", "1") == 0
    assert "incident 1 created" in capsys.readouterr().out
