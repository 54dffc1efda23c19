"""The evidence list of an incident (issue #12): recorded with who and when on the router's
clock, in the timeline, append-only, bad input refused naming the field, same auth."""

from __future__ import annotations

import psycopg
import pytest
from router_helpers import Router

HASH = "ab" * 32


async def test_evidence_is_recorded_listed_and_in_the_timeline(router: Router) -> None:
    _, inc = await router.api("POST", "/api/v1/incidents", json={
        "type": "breach", "severity": "P2", "description": "d"})
    path = f"/api/v1/incidents/{inc['id']}/evidence"
    status, body = await router.api("GET", path)
    assert status == 200 and body == {"incident_id": inc["id"], "evidence": []}
    status, rec = await router.api("POST", path, json={
        "path": "/srv/evidence/incident-1", "manifest_hash": HASH, "files": 11, "who": "dana"})
    assert status == 201 and rec["collected_by"] == "dana" and rec["files"] == 11
    assert rec["collected_at"] == router.clock.now().isoformat()
    _, body = await router.api("GET", path)
    assert [e["manifest_hash"] for e in body["evidence"]] == [HASH]
    _, tl = await router.api("GET", f"/api/v1/incidents/{inc['id']}/timeline")
    [ev] = [e for e in tl["events"] if e["kind"] == "evidence_collected"]
    assert ev["actor"] == "dana" and ev["detail"]["manifest_hash"] == HASH
    with pytest.raises(psycopg.errors.RaiseException):
        router.sql("DELETE FROM vigil_router.evidence")


@pytest.mark.parametrize(("body", "field"), [
    ({"manifest_hash": HASH, "files": 1}, "path"),
    ({"path": "/x", "manifest_hash": "XYZ", "files": 1}, "manifest_hash"),
    ({"path": "/x", "manifest_hash": HASH, "files": True}, "files"),
    ({"path": "/x", "manifest_hash": HASH, "files": -1}, "files"),
    ({"path": "/x", "manifest_hash": HASH, "files": 1, "who": ""}, "who"),
])
async def test_bad_evidence_is_refused_naming_the_field(router: Router, body: dict[str, object],
                                                        field: str) -> None:
    _, inc = await router.api("POST", "/api/v1/incidents", json={
        "type": "breach", "severity": "P3", "description": "d"})
    status, err = await router.api("POST", f"/api/v1/incidents/{inc['id']}/evidence", json=body)
    assert status == 400 and err["field"] == field


async def test_evidence_of_no_incident_is_404_and_needs_credentials(router: Router) -> None:
    status, _ = await router.api("GET", "/api/v1/incidents/424242/evidence")
    assert status == 404
    status, _ = await router.api("POST", "/api/v1/incidents/424242/evidence", json={
        "path": "/x", "manifest_hash": HASH, "files": 1})
    assert status == 404
    resp = await router.client.get("/api/v1/incidents/1/evidence")
    assert resp.status == 401
