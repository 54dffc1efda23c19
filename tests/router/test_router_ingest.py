"""The Alertmanager webhook: auth, limits, validation, durability and identity."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections import Counter
from typing import Any

import psycopg
import pytest
from router_helpers import AUTH, TOKEN, Router, am_alert, am_payload

from vigil.core import pg


def count(router: Router, table: str) -> int:
    return int(router.sql(f"SELECT count(*) FROM vigil_router.{table}")[0][0])


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic !!notbase64"},
    {"Authorization": "Basic " + base64.b64encode(b"alertmanager:wrong").decode()},
    {"Authorization": f"Token {TOKEN}"},
])
async def test_missing_or_wrong_credentials_get_401_and_write_nothing(
        router: Router, headers: dict[str, str]) -> None:
    resp = await router.post(am_payload(am_alert()), headers=headers)
    assert resp.status == 401
    assert count(router, "alerts") == 0 and count(router, "raw_payloads") == 0


async def test_basic_auth_is_accepted(router: Router) -> None:
    basic = base64.b64encode(b"alertmanager:basic-pass-xyz").decode()
    resp = await router.post(am_payload(am_alert()), headers={"Authorization": f"Basic {basic}"})
    assert resp.status == 200


async def test_token_in_query_string_is_refused_and_never_logged(
        router: Router, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    resp = await router.client.post(f"/api/v1/alertmanager?token={TOKEN}",
                                    json=am_payload(am_alert()), headers=AUTH)
    assert resp.status == 401
    assert "query string" in (await resp.json())["error"]
    assert TOKEN not in caplog.text and TOKEN not in await resp.text()
    assert count(router, "alerts") == 0


async def test_body_over_the_limit_gets_413(router: Router) -> None:
    big = am_payload(*[am_alert(f"A{i}", "P3", note="x" * 2000) for i in range(600)])
    resp = await router.post(big)
    assert resp.status == 413
    assert count(router, "alerts") == 0


@pytest.mark.parametrize(("body", "field"), [
    (b"{not json", "body"),
    (b"[]", "body"),
    (b'{"version": "3", "alerts": []}', "version"),
    (b'{"version": "4"}', "alerts"),
    (b'{"version": "4", "alerts": [{"status": "weird"}]}', "alerts[0].status"),
    (b'{"version": "4", "alerts": [{"status": "firing", "labels": {"a": 1}}]}',
     "alerts[0].labels"),   # the label name is payload data: not echoed
    (b'{"version": "4", "alerts": [{"status": "firing", "labels": {}, "startsAt": "yesterday"}]}',
     "alerts[0].startsAt"),
])
async def test_malformed_body_gets_400_naming_the_field(router: Router, body: bytes,
                                                        field: str) -> None:
    resp = await router.client.post("/api/v1/alertmanager", data=body,
                                    headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status == 400
    doc = await resp.json()
    assert doc["field"] == field and doc["error"].startswith(field)


async def test_database_down_gets_503_not_4xx_then_recovers(router: Router,
                                                            admin_dsn: str) -> None:
    dbname = pg.dbname_of(router.dsn)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,))
    try:
        for _ in range(2):  # a broken pooled connection, then no connection at all
            resp = await router.post(am_payload(am_alert()))
            assert resp.status == 503
            assert resp.headers["Retry-After"]
        ready = await router.client.get("/-/ready")
        assert ready.status == 503
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
    for _ in range(20):
        resp = await router.post(am_payload(am_alert()))
        if resp.status == 200:
            break
    assert resp.status == 200
    assert count(router, "alerts") == 1


async def test_repeats_are_noops_counted_on_the_timeline(router: Router) -> None:
    for _ in range(3):
        resp = await router.post(am_payload(am_alert()))
        assert resp.status == 200
    assert count(router, "alerts") == 1
    _, tl = await router.api("GET", "/api/v1/alerts/1/timeline")
    kinds = [e["kind"] for e in tl["events"]]
    assert kinds == ["received", "duplicate_suppressed", "duplicate_suppressed"]
    assert count(router, "raw_payloads") == 3
    metrics = await (await router.client.get("/metrics")).text()
    assert "vigil_router_duplicates_total 2.0" in metrics
    assert 'vigil_router_alerts_received_total{severity="P1"} 1.0' in metrics


async def test_new_starts_at_on_the_same_fingerprint_opens_a_new_alert(router: Router) -> None:
    await router.post(am_payload(am_alert(starts="2026-01-01T00:00:00Z")))
    await router.post(am_payload(am_alert(starts="2026-01-01T00:00:00Z", status="resolved")))
    await router.post(am_payload(am_alert(starts="2026-01-01T06:00:00Z")))
    rows = router.sql("SELECT fingerprint, starts_at, status FROM vigil_router.alerts ORDER BY id")
    assert [(r[0], r[1].hour, r[2]) for r in rows] == [
        ("fp-RLSOverheadHigh-P1", 0, "resolved"), ("fp-RLSOverheadHigh-P1", 6, "open")]


async def test_fifty_concurrent_identical_posts_give_one_alert_one_page_per_step(
        router: Router) -> None:
    payload = am_payload(am_alert("Dup", "P1"), am_alert("Dup2", "P2"))
    resps = await asyncio.gather(*[router.post(payload) for _ in range(50)])
    assert [r.status for r in resps] == [200] * 50
    assert count(router, "alerts") == 2
    await router.run()
    await router.advance(hours=1)
    keys = router.sink.keys()
    assert all(n == 1 for n in keys.values()), keys
    # P1: security-team at 0, cto at 15 min and repeated at 30, 45, 60; P2: security-team,
    # team-lead at 1 h. Each step exactly once although 50 requests carried the alerts.
    pages = Counter((r.payload["alert"]["alertname"], r.target, r.payload["step"])
                    for r in router.sink.received if r.kind == "escalation")
    assert pages == Counter({("Dup", "security-team", 1): 1, ("Dup", "cto", 2): 1,
                             ("Dup", "cto", 3): 1, ("Dup", "cto", 4): 1, ("Dup", "cto", 5): 1,
                             ("Dup2", "security-team", 1): 1, ("Dup2", "team-lead", 2): 1})
    assert int(router.sql("SELECT sum(duplicates) FROM vigil_router.alerts")[0][0]) == 98


async def test_unknown_severity_falls_back_to_the_default_and_is_counted(router: Router) -> None:
    await router.post(am_payload(am_alert("Odd", "sev-unknown"), am_alert("Crit", "critical"),
                                 am_alert("NoSev", None)))
    rows = dict(router.sql("SELECT alertname, severity FROM vigil_router.alerts"))
    assert rows == {"Odd": "P3", "Crit": "P1", "NoSev": "P3"}
    metrics = await (await router.client.get("/metrics")).text()
    assert "vigil_router_severity_fallbacks_total 2.0" in metrics
    odd = router.sql("SELECT id FROM vigil_router.alerts WHERE alertname = 'Odd'")[0][0]
    _, tl = await router.api("GET", f"/api/v1/alerts/{odd}/timeline")
    assert tl["events"][0]["detail"]["severity_fallback"] == "sev-unknown"


async def test_first_seen_resolved_is_stored_resolved_without_paging(router: Router) -> None:
    await router.post(am_payload(am_alert(severity="P2", status="resolved")))
    await router.run()
    assert router.sql("SELECT status FROM vigil_router.alerts") == [("resolved",)]
    assert router.sink.received == []   # P2 has no notices; P1's: test_router_resolve_rule


async def test_raw_payloads_have_bounded_retention(make_router: Any) -> None:
    from router.app import housekeeping

    r: Router = await make_router(retention={"raw_payloads": "1h", "max_raw_payloads": 2})
    for i in range(4):
        await r.post(am_payload(am_alert(f"R{i}", "P4")))
    await housekeeping(r.client.server.app)
    assert count(r, "raw_payloads") == 2
    r.clock.advance(hours=2)
    await housekeeping(r.client.server.app)
    assert count(r, "raw_payloads") == 0
    assert count(r, "alerts") == 4


async def test_a_repeat_within_one_request_is_a_duplicate(router: Router) -> None:
    resp = await router.post(am_payload(am_alert("Twice", "P2"), am_alert("Once", "P4"),
                                        am_alert("Twice", "P2")))
    assert await resp.json() == {"status": "stored", "alerts": 3, "new": 2, "duplicates": 1,
                                 "resolved": 0}
    twice = router.sql("SELECT id, duplicates FROM vigil_router.alerts WHERE alertname = 'Twice'")
    assert [d for _, d in twice] == [1]
    _, tl = await router.api("GET", f"/api/v1/alerts/{twice[0][0]}/timeline")
    assert [e["kind"] for e in tl["events"]] == ["received", "duplicate_suppressed"]
    assert count(router, "raw_payloads") == 1
    assert count(router, "steps") == 4 + 2   # P2: two steps, a repeat, SLA; P4: step, SLA


async def test_stored_labels_and_annotations_are_the_body_as_sent(router: Router) -> None:
    # The ingest statement reads them from the request's own JSON text: check the edge
    # cases Python used to normalise (missing/null annotations, null generatorURL, no
    # alertname, non-ASCII and escaped text) come out as the parsed body says.
    plain = am_alert("Unicode", "P4", team="équipe \"β\" \\ 100%")
    no_ann = {**am_alert("NoAnn", "P4"), "generatorURL": None}
    del no_ann["annotations"]
    null_ann = {**am_alert("NullAnn", "P4"), "annotations": None}
    nameless = am_alert("x", "P4")
    del nameless["labels"]["alertname"]
    nameless["fingerprint"] = "nameless"
    resp = await router.post(am_payload(plain, no_ann, null_ann, nameless))
    assert resp.status == 200
    rows = {r[0]: r[1:] for r in router.sql(
        "SELECT fingerprint, alertname, labels, annotations, generator_url "
        "FROM vigil_router.alerts")}
    assert rows[plain["fingerprint"]] == ("Unicode", plain["labels"], plain["annotations"],
                                          "http://prometheus/graph")
    assert rows[no_ann["fingerprint"]] == ("NoAnn", no_ann["labels"], {}, "")
    assert rows[null_ann["fingerprint"]] == ("NullAnn", null_ann["labels"], {},
                                             "http://prometheus/graph")
    assert rows["nameless"] == ("", {"severity": "P4"}, nameless["annotations"],
                                "http://prometheus/graph")


async def test_a_body_that_is_not_utf8_gets_400(router: Router) -> None:
    body = json.dumps(am_payload(am_alert())).encode("utf-16")
    resp = await router.client.post("/api/v1/alertmanager", data=body,
                                    headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["field"] == "body"
    assert count(router, "alerts") == 0


async def test_alerts_are_never_deleted(router: Router) -> None:
    # The timeline, plan and outbox reference alerts without foreign-key checks
    # (migration 0002): the guarantee is that an alert row never goes away.
    await router.post(am_payload(am_alert()))
    for statement in ("DELETE FROM vigil_router.alerts", "TRUNCATE vigil_router.alerts CASCADE"):
        with pytest.raises(psycopg.errors.RaiseException, match="never deleted"):
            router.sql(statement)
    assert count(router, "alerts") == 1
