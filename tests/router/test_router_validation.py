"""Content PostgreSQL can't store is refused with a 400 naming the field, before the database
is touched: a request never earns a 500 (Alertmanager would retry the group forever), and no
answer echoes a value. POST bodies must be JSON (415), so a cross-site form can't act."""

from __future__ import annotations

import json
from typing import Any

import pytest
from router_helpers import AUTH, Router, am_alert, am_payload

CANARY = "CANARY-PHI-7f3a"


def _body(alert: dict[str, Any], **top: Any) -> bytes:
    return json.dumps({**am_payload(alert), **top}).encode()


def _alert_with(**fields: Any) -> dict[str, Any]:
    return {**am_alert("Bad", "P1"), **fields}


BAD_WEBHOOKS = [
    ("nul in a label value", _body(am_alert("Bad", "P1", patient_name=f"{CANARY}\u0000")),
     "alerts[0].labels", 0),
    ("nul in a label name", _body(am_alert("Bad", "P1", **{f"{CANARY}\u0000": "x"})),
     "alerts[0].labels", 0),
    ("nul in an annotation", _body(_alert_with(annotations={"summary": f"{CANARY}\u0000"})),
     "alerts[0].annotations", 0),
    ("nul in an unknown field", _body(am_alert("Bad", "P1"), extra=f"{CANARY}\u0000"), "body", 1),
    ("lone surrogate", json.dumps(am_payload(am_alert("Bad", "P1", patient_name="X")))
     .replace('"X"', f'"{CANARY}\\ud800"').encode(), "alerts[0].labels", 0),
    ("NaN", _body(am_alert("Bad", "P1")).replace(
        b'"truncatedAlerts": 0', b'"truncatedAlerts": NaN'), "truncatedAlerts", 1),
    ("Infinity", _body(am_alert("Bad", "P1")).replace(
        b'"truncatedAlerts": 0', b'"truncatedAlerts": -Infinity'), "truncatedAlerts", 1),
    ("NaN inside an alert", _body(_alert_with(score=float("nan"))), "alerts[0]", 0),
    ("number beyond a float", _body(am_alert("Bad", "P1")).replace(
        b'"truncatedAlerts": 0', b'"truncatedAlerts": 1e400'), "truncatedAlerts", 1),
    ("50,000-deep array", _body(am_alert("Bad", "P1")).replace(
        b'"truncatedAlerts": 0', b'"truncatedAlerts": ' + b"[" * 50000 + b"]" * 50000), "body", 0),
    ("64-deep object", _body(am_alert("Bad", "P1")).replace(
        b'"truncatedAlerts": 0', b'"truncatedAlerts": ' + b'{"a":' * 64 + b"1" + b"}" * 64),
     "truncatedAlerts", 1),
    ("startsAt before year 1 in UTC", _body(_alert_with(startsAt="0001-01-01T00:00:00+01:00")),
     "alerts[0].startsAt", 0),
    ("endsAt beyond year 9999 in UTC", _body(
        _alert_with(status="resolved", endsAt="9999-12-31T23:59:59-01:00")), "alerts[0].endsAt", 0),
    ("not UTF-8", _body(am_alert("Bad", "P1", patient_name="X")).replace(b'"X"', b'"\xff"'),
     "body", 0),
]


@pytest.mark.parametrize(("body", "field", "stored"), [c[1:] for c in BAD_WEBHOOKS],
                         ids=[c[0] for c in BAD_WEBHOOKS])
async def test_unstorable_webhook_content_is_a_400_naming_the_field(
        router: Router, body: bytes, field: str, stored: int) -> None:
    resp = await router.client.post("/api/v1/alertmanager", data=body,
                                    headers={**AUTH, "Content-Type": "application/json"})
    text = await resp.text()
    assert resp.status == 400, text
    assert json.loads(text)["field"] == field
    assert CANARY not in text and "patient_name" not in text
    # A bad field Alertmanager's alert doesn't need is left out; the alert is still stored.
    assert router.sql("SELECT count(*) FROM vigil_router.alerts") == [(stored,)]


async def test_one_bad_alert_does_not_poison_its_group(router: Router) -> None:
    bad = am_alert("Poison", "P3", patient_name=f"{CANARY}\u0000")
    good = am_alert("Breach", "P1")
    resp = await router.client.post(
        "/api/v1/alertmanager", data=json.dumps(am_payload(bad, good)).encode(),
        headers={**AUTH, "Content-Type": "application/json"})
    answer = await resp.json()
    # 400 (final: Alertmanager logs it, doesn't retry the group), but the P1 is stored.
    assert resp.status == 400
    assert answer["field"] == "alerts[0].labels" and answer["refused"] == ["alerts[0].labels"]
    assert answer["stored"] == 1 and answer["new"] == 1
    assert CANARY not in json.dumps(answer)
    assert router.sql("SELECT alertname, labels FROM vigil_router.alerts") == [
        ("Breach", good["labels"])]
    raw = router.sql("SELECT body FROM vigil_router.raw_payloads")[0][0]
    assert CANARY not in raw and "Breach" in raw
    await router.run()
    assert router.sink.targets("escalation") == ["security-team"]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain",
                                          "multipart/form-data; boundary=x"])
async def test_a_form_or_text_post_is_415_and_resolves_nothing(router: Router,
                                                               content_type: str) -> None:
    assert (await router.post(am_payload(am_alert("Open", "P2")))).status == 200
    aid = router.sql("SELECT id FROM vigil_router.alerts")[0][0]
    for path in (f"/api/v1/alerts/{aid}/resolve", f"/api/v1/alerts/{aid}/ack",
                 "/api/v1/alertmanager", "/api/v1/incidents"):
        resp = await router.client.post(path, data=b"",
                                        headers={**AUTH, "Content-Type": content_type})
        assert resp.status == 415, path
        assert (await resp.json())["field"] == "Content-Type"
    resp = await router.client.post(f"/api/v1/alerts/{aid}/resolve", headers=AUTH)
    assert resp.status == 415   # no body, no type: what a cross-site fetch can send
    assert router.sql("SELECT status FROM vigil_router.alerts") == [("open",)]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/incidents", {"type": "t", "severity": "P1", "description": "d",
                           "alert_ids": [True]}, "alert_ids"),
    ("/api/v1/incidents", {"type": "t", "severity": "P1", "description": "d",
                           "alert_ids": [2**70]}, "alert_ids"),
    ("/api/v1/incidents", {"type": "t", "severity": "P1", "description": f"{CANARY}\u0000"},
     "description"),
    ("/api/v1/alerts/1/ack", {"who": f"{CANARY}\u0000"}, "who"),
    ("/api/v1/alerts/1/resolve", {"note": f"{CANARY}\ud800"}, "note"),
])
async def test_unstorable_api_content_is_a_400_naming_the_field(
        router: Router, path: str, body: dict[str, Any], field: str) -> None:
    assert (await router.post(am_payload(am_alert("One", "P2")))).status == 200
    data = json.dumps(body).encode()   # json.dumps escapes the surrogate as \ud800
    resp = await router.client.post(path, data=data,
                                    headers={**AUTH, "Content-Type": "application/json"})
    text = await resp.text()
    assert resp.status == 400, text
    assert json.loads(text)["field"] == field
    assert CANARY not in text


@pytest.mark.parametrize(("path", "status"), [
    ("/api/v1/alerts/99999999999999999999", 404),
    ("/api/v1/alerts/-99999999999999999999/timeline", 404),
    ("/api/v1/alerts/1/related?window_seconds=nan", 400),
    ("/api/v1/alerts/1/related?window_seconds=inf", 400),
    ("/api/v1/alerts/1/related?window_seconds=1e308", 400),
    ("/api/v1/alerts?label=patient_name%3DCANARY-PHI-7f3a%00", 400),
    ("/api/v1/alerts?limit=%00", 400),
])
async def test_unstorable_paths_and_queries_are_4xx_not_500(router: Router, path: str,
                                                          status: int) -> None:
    assert (await router.post(am_payload(am_alert("One", "P2")))).status == 200
    resp = await router.client.get(path, headers=AUTH)
    text = await resp.text()
    assert resp.status == status, text
    assert CANARY not in text


async def test_an_oversized_api_body_is_a_json_413(router: Router) -> None:
    big = json.dumps({"who": "x" * (2 * 1024 * 1024)}).encode()
    resp = await router.client.post("/api/v1/alerts/1/ack", data=big,
                                    headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["field"] == "body"
