"""A canary PHI value sent in every field of every endpoint, valid and invalid, never appears
in a log line (any logger, the access log included, at DEBUG) or in an error response."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from router_helpers import AUTH, Router, am_alert, am_payload

CANARY = "CANARY-PHI-91c4e"
NUL = "\u0000"


def _webhooks() -> list[bytes]:
    """Valid and invalid webhook bodies, the canary in each field in turn."""
    ok = am_alert("Canary", "P1", patient_name=CANARY)
    ok |= {"annotations": {"summary": CANARY}, "generatorURL": f"http://p/{CANARY}",
           "fingerprint": f"fp-{CANARY}"}
    top = {"groupKey": CANARY, "receiver": CANARY, "externalURL": CANARY,
           "commonLabels": {"patient_name": CANARY}}
    bodies = [json.dumps({**am_payload(ok), **top}).encode()]
    for field in ("status", "startsAt", "endsAt", "fingerprint", "generatorURL"):
        bodies.append(json.dumps(am_payload({**ok, field: CANARY + NUL})).encode())
        bodies.append(json.dumps(am_payload({**ok, field: [CANARY]})).encode())
    for field in ("labels", "annotations"):
        bodies.append(json.dumps(am_payload({**ok, field: {"x": CANARY + NUL}})).encode())
        bodies.append(json.dumps(am_payload({**ok, field: {CANARY: 1}})).encode())
        bodies.append(json.dumps(am_payload({**ok, field: CANARY})).encode())
    bodies.append(json.dumps({**am_payload(ok), "version": CANARY}).encode())
    bodies.append(json.dumps({**am_payload(ok), "alerts": CANARY}).encode())
    bodies.append(json.dumps({**am_payload(ok), "groupKey": CANARY + NUL}).encode())
    bodies.append(json.dumps(am_payload(ok)).replace("Canary", f"{CANARY}\\ud800").encode())
    bodies.append(f'{{"version": "4", "alerts": [], "x": "{CANARY}", "n": NaN}}'.encode())
    bodies.append(CANARY.encode())
    bodies.append(b"\xff" + CANARY.encode())
    return bodies


def _api_bodies() -> list[Any]:
    return [{"who": CANARY, "note": CANARY}, {"who": CANARY + NUL}, {"note": [CANARY]},
            {"who": 7, "note": CANARY}, [CANARY], CANARY]


def _incidents() -> list[Any]:
    good = {"type": CANARY, "severity": "P2", "description": CANARY, "created_by": CANARY}
    return [good, {**good, "severity": CANARY}, {**good, "alert_ids": [CANARY]},
            {**good, "alert_ids": [True]}, {**good, "type": CANARY + NUL},
            {**good, "description": {"x": CANARY}}, {**good, "alert_ids": [987654]}]


async def test_the_canary_never_reaches_a_log_line_or_an_error_response(
        router: Router, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []

    async def call(method: str, path: str, data: bytes | None = None,
                   content_type: str = "application/json") -> int:
        resp = await router.client.request(method, path, data=data,
                                           headers={**AUTH, "Content-Type": content_type})
        text = await resp.text()
        if resp.status >= 400:
            errors.append(f"{resp.status} {text} {dict(resp.headers)}")
        assert resp.status < 500, f"{method} {path}: {resp.status}"
        return resp.status

    for body in _webhooks():
        await call("POST", "/api/v1/alertmanager", body)
    await call("POST", "/api/v1/alertmanager", f"patient_name={CANARY}".encode(),
               "application/x-www-form-urlencoded")
    await router.run()   # the notifications carry the canary to the sink: not a log
    aid = router.sql("SELECT id FROM vigil_router.alerts ORDER BY id")[0][0]

    for query in (f"label=patient_name={CANARY}", f"status={CANARY}", f"severity={CANARY}",
                  f"limit={CANARY}", f"label={CANARY}", f"label=x={CANARY}%00"):
        await call("GET", f"/api/v1/alerts?{query}")
    for sub in ("", "/context", "/timeline", f"/related?window_seconds={CANARY}",
                "/related"):
        await call("GET", f"/api/v1/alerts/{aid}{sub}")
        await call("GET", f"/api/v1/alerts/{CANARY}{sub}")
    await call("GET", f"/api/v1/outbox?state={CANARY}")
    for action in ("ack", "resolve"):
        for body in _api_bodies():
            await call("POST", f"/api/v1/alerts/{aid}/{action}", json.dumps(body).encode())
        await call("POST", f"/api/v1/alerts/{aid}/{action}", CANARY.encode(), "text/plain")
    for body in _incidents():
        await call("POST", "/api/v1/incidents", json.dumps(body).encode())
    iid = router.sql("SELECT id FROM vigil_router.incidents ORDER BY id")[0][0]
    for body in _api_bodies():
        await call("POST", f"/api/v1/incidents/{iid}/respond", json.dumps(body).encode())
    for sub in ("", "/timeline"):
        await call("GET", f"/api/v1/incidents/{iid}{sub}")
        await call("GET", f"/api/v1/incidents/{CANARY}{sub}")
    await router.run()

    assert len(errors) > 40   # the invalid half really was refused
    leaked = [e for e in errors if CANARY in e]
    assert leaked == []
    lines = [f"{r.name} {r.getMessage()} {r.__dict__}" for r in caplog.records]
    assert lines, "nothing was logged: the capture is not working"
    bad = [line for line in lines if CANARY in line]
    assert bad == [], [b[max(0, b.index(CANARY) - 300):b.index(CANARY) + 50] for b in bad][:2]
