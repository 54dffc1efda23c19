"""Incidents (issue #11): list, notes, the lifecycle open -> responding -> contained ->
resolved -> closed with who and when, a timeline with the linked alerts' events, and an
incident that resolves when all its alerts do; the alert CLI's tables and argument checks."""

from __future__ import annotations

import asyncio
import json

import psycopg
from router_helpers import Router, am_alert, am_payload, run_cli
from support.polling import wait_for_async

from router import store
from router.keys import MATRIX


async def _incident(router: Router, *alert_ids: int, severity: str = "P2") -> int:
    status, inc = await router.api("POST", "/api/v1/incidents", json={
        "type": "access", "severity": severity, "description": "probing", "created_by": "erin",
        "alert_ids": list(alert_ids)})
    assert status == 201
    return int(inc["id"])


async def test_lifecycle_moves_with_who_and_when_and_refuses_skips(router: Router) -> None:
    await router.post(am_payload(am_alert("A", "P2")))
    iid = await _incident(router, 1)
    status, body = await router.api("POST", f"/api/v1/incidents/{iid}/status",
                                    json={"status": "contained", "who": "erin"})
    assert status == 409 and "can move to responding, not contained" in body["error"]
    assert body["field"] == "status"

    router.clock.advance(minutes=1)
    status, inc = await router.api("POST", f"/api/v1/incidents/{iid}/status",
                                   json={"status": "responding", "who": "erin"})
    assert status == 200 and inc["status"] == "responding"
    assert (inc["status_changed_by"], inc["responded_by"]) == ("erin", "erin")
    await router.run()   # open -> responding is the response: the responders are notified
    assert router.sink.targets(kind="incident") == ["security-team"]

    status, note = await router.api("POST", f"/api/v1/incidents/{iid}/notes",
                                    json={"who": "erin", "note": "blocked actor a9"})
    assert status == 201 and note["status"] == "responding"
    for who, to in (("frank", "contained"), ("frank", "resolved"), ("dana", "closed")):
        router.clock.advance(minutes=5)
        status, inc = await router.api("POST", f"/api/v1/incidents/{iid}/status",
                                       json={"status": to, "who": who})
        assert status == 200 and (inc["status"], inc["status_changed_by"]) == (to, who)
        assert inc["status_changed_at"] == router.clock.now().isoformat()
    status, body = await router.api("POST", f"/api/v1/incidents/{iid}/status",
                                    json={"status": "responding"})
    assert status == 409 and "closed is final" in body["error"]

    _, tl = await router.api("GET", f"/api/v1/incidents/{iid}/timeline")
    own = [(e["kind"], e["actor"], e["detail"].get("to")) for e in tl["events"]
           if e["incident_id"] == iid and e["kind"] != "notified"]   # deliveries aside
    assert own == [("created", "erin", None), ("status_changed", "erin", "responding"),
                   ("response_initiated", "erin", None), ("note", "erin", None),
                   ("status_changed", "frank", "contained"),
                   ("status_changed", "frank", "resolved"), ("status_changed", "dana", "closed")]
    # The linked alert's own events are part of it (the docs say so; it used to omit them).
    assert {e["kind"] for e in tl["events"] if e["alert_id"] == 1} >= {
        "received", "linked_to_incident"}

    for body_, field in (({"status": "bogus"}, "status"), ({"status": "closed", "who": ""},
                                                           "who")):
        status, body = await router.api("POST", f"/api/v1/incidents/{iid}/status", json=body_)
        assert status == 400 and body["field"] == field
    status, body = await router.api("POST", f"/api/v1/incidents/{iid}/notes", json={"note": " "})
    assert status == 400 and body["field"] == "note"


async def test_incident_resolves_when_all_its_alerts_do(router: Router) -> None:
    await router.post(am_payload(am_alert("A", "P2", fingerprint="a"),
                                 am_alert("B", "P2", fingerprint="b")))
    responding = await _incident(router, 1, 2)
    waiting = await _incident(router, 2)   # nobody responded to this one
    await router.api("POST", f"/api/v1/incidents/{responding}/respond", json={"who": "erin"})
    await router.api("POST", "/api/v1/alerts/1/resolve", json={"who": "erin"})
    _, inc = await router.api("GET", f"/api/v1/incidents/{responding}")
    assert (inc["status"], inc["alerts_unresolved"]) == ("responding", 1)

    # The last alert resolves through Alertmanager, as in production.
    router.clock.advance(minutes=3)
    resolved = am_alert("B", "P2", fingerprint="b", status="resolved")
    await router.post(am_payload(resolved))
    _, inc = await router.api("GET", f"/api/v1/incidents/{responding}")
    assert (inc["status"], inc["status_changed_by"], inc["alerts_unresolved"]) == (
        "resolved", "router", 0)
    _, tl = await router.api("GET", f"/api/v1/incidents/{responding}/timeline")
    assert [(e["kind"], e["detail"].get("reason")) for e in tl["events"]
            if e["incident_id"] == responding][-2:] == [
        ("all_alerts_resolved", None), ("status_changed", "all linked alerts resolved")]
    # Asking for the status it has already is a no-op, not a 409: a script that resolves it
    # by hand can't lose the race against the router.
    status, inc = await router.api("POST", f"/api/v1/incidents/{responding}/status",
                                   json={"status": "resolved", "who": "erin"})
    assert status == 200 and inc["status_changed_by"] == "router"
    # An open incident is recorded, not moved: its response still has to start.
    _, inc = await router.api("GET", f"/api/v1/incidents/{waiting}")
    assert (inc["status"], inc["alerts_unresolved"]) == ("open", 0)
    _, tl = await router.api("GET", f"/api/v1/incidents/{waiting}/timeline")
    assert "all_alerts_resolved" in [e["kind"] for e in tl["events"]]

    _, body = await router.api("GET", "/api/v1/incidents?status=active")
    assert [i["id"] for i in body["incidents"]] == [waiting]
    _, body = await router.api("GET", "/api/v1/incidents")
    assert [i["id"] for i in body["incidents"]] == [waiting, responding]
    for query, field in (("status=bogus", "status"), ("limit=0", "limit"),
                         ("limit=-1", "limit"), ("limit=x", "limit")):
        status, body = await router.api("GET", f"/api/v1/incidents?{query}")
        assert status == 400 and body["field"] == field, query


async def test_an_incident_linking_only_resolved_alerts_says_so_at_once(
        router: Router) -> None:
    # Its alerts resolved before anyone opened it: no later resolve will ever record it.
    await router.post(am_payload(am_alert("Gone", "P3", fingerprint="g")))
    await router.api("POST", "/api/v1/alerts/1/resolve", json={"who": "erin"})
    incident = await _incident(router, 1)
    _, tl = await router.api("GET", f"/api/v1/incidents/{incident}/timeline")
    assert [e["kind"] for e in tl["events"] if e["incident_id"] == incident] == [
        "created", "all_alerts_resolved"]
    status, body = await router.api("POST", "/api/v1/incidents", json={
        "type": "t", "severity": "P3", "description": "d", "alert_ids": [1, 99]})
    assert status == 400 and body["field"] == "alert_ids" and "99" in body["error"]


async def test_cli_incident_list_note_status_and_timeline(router: Router) -> None:
    await router.post(am_payload(am_alert("A", "P3")))
    res = await run_cli(router, "incident", "list")
    assert (res.code, res.out.strip()) == (0, "no incidents")
    assert (await run_cli(router, "incident", "create", "--type", "access", "--severity",
                          "P3", "--description", "d", "--alert", "1", "--by", "erin")).code == 0
    res = await run_cli(router, "incident", "note", "1", "initial response: looking", "--by",
                        "erin")
    assert res.code == 0 and "note logged" in res.out and "by erin" in res.out
    res = await run_cli(router, "incident", "status", "1", "contained", "--by", "erin")
    assert res.code == 1 and "can move to responding, not contained" in res.err
    res = await run_cli(router, "incident", "status", "1", "responding", "--by", "erin")
    assert res.code == 0 and "incident 1: responding" in res.out and "by erin" in res.out
    res = await run_cli(router, "incident", "status", "1", "bogus")
    assert res.code == 2 and "invalid choice" in res.err

    res = await run_cli(router, "incident", "list", "--status", "responding")
    header, row = res.out.splitlines()
    assert header.split()[:4] == ["ID", "SEV", "STATUS", "TYPE"]
    assert row.split()[:4] == ["1", "P3", "responding", "access"] and "1 unresolved" in row
    doc = json.loads((await run_cli(router, "incident", "list", "--json")).out)
    assert doc["incidents"][0]["status"] == "responding"

    res = await run_cli(router, "incident", "timeline", "1")
    assert "alert 1" in res.out and "received" in res.out
    assert "note" in res.out and "initial response: looking" in res.out
    res = await run_cli(router, "incident", "show", "1")
    assert res.out.startswith("incident 1  P3  responding")
    assert "--by" in (await run_cli(router, "incident", "note", "--help")).out


async def test_cli_alert_list_show_and_argument_errors(router: Router) -> None:
    await router.post(am_payload(am_alert("Cli", "P2", table="deal")))
    res = await run_cli(router, "alert", "list")
    header = res.out.splitlines()[0]
    assert header.split() == ["ID", "SEV", "STATUS", "ALERT", "RECEIVED", "SUMMARY"]
    res = await run_cli(router, "alert", "list", "--label", "table=deal")
    assert res.code == 0 and "Cli" in res.out
    res = await run_cli(router, "alert", "list", "--label", "foo")
    assert res.code == 2 and "argument --label: expected NAME=VALUE" in res.err
    assert "label=name=value" not in res.err   # not the API's syntax
    for bad in ("0", "-1", "x"):
        res = await run_cli(router, "alert", "list", "--limit", bad)
        assert res.code == 2 and "argument --limit" in res.err, bad
    for bad in ("0", "-1"):   # the API refuses them too (they used to return one row)
        status, body = await router.api("GET", f"/api/v1/alerts?limit={bad}")
        assert status == 400 and body["field"] == "limit"

    res = await run_cli(router, "alert", "show", "1")
    assert res.code == 0 and res.out.startswith("alert 1  Cli  P2  open")
    assert "labels" in res.out and not res.out.lstrip().startswith("{")
    assert json.loads((await run_cli(router, "alert", "show", "1", "--json")).out)["id"] == 1
    res = await run_cli(router, "alert", "timeline", "1")
    assert res.out.splitlines()[0].split() == ["AT", "EVENT", "BY", "DETAIL"]
    res = await run_cli(router, "alert", "related", "1", "--json")
    assert json.loads(res.out)["related"] == []
    res = await run_cli(router, "alert", "related", "1", "--window", "2h")
    assert res.code == 0 and "within 2h" in res.out and "none related" in res.out
    res = await run_cli(router, "alert", "related", "1", "--window", "soon")
    assert res.code == 2 and "argument --window" in res.err
    assert "exit codes: 0" in (await run_cli(router, "alert", "list", "--help")).out
    res = await run_cli(router, "alert", "show", "99")
    assert res.code == 1 and "404" in res.err


async def test_the_last_two_alerts_resolving_at_once_still_resolve_the_incident(
        router: Router) -> None:
    """Each resolve locks the incident before checking its alerts, so the second waits for the
    first to commit and then sees both resolved (without the lock neither would)."""
    await router.post(am_payload(am_alert("A", "P2", fingerprint="a"),
                                 am_alert("B", "P2", fingerprint="b")))
    iid = await _incident(router, 1, 2)
    await router.api("POST", f"/api/v1/incidents/{iid}/respond", json={"who": "erin"})
    matrix, now = router.client.server.app[MATRIX], router.clock.now()
    async with (await psycopg.AsyncConnection.connect(router.dsn) as first,
                await psycopg.AsyncConnection.connect(router.dsn) as second):
        await store.resolve(first, matrix, 1, now, "erin")          # holds the incident's lock

        async def resolve_second() -> None:
            await store.resolve(second, matrix, 2, now, "frank")
            await second.commit()

        task = asyncio.create_task(resolve_second())

        async def second_waits() -> bool:
            rows = router.sql("SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND "
                              "wait_event_type = 'Lock'", second.info.backend_pid)
            return bool(rows[0][0])

        await wait_for_async(second_waits, within=10, describe="the second resolve to wait")
        await first.commit()
        await task
    _, inc = await router.api("GET", f"/api/v1/incidents/{iid}")
    assert (inc["status"], inc["status_changed_by"]) == ("resolved", "router")
