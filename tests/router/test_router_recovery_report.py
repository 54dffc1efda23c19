"""`vigil recovery report --incident`: the checklist plus the incident's timeline,
containments, releases and time to each milestone, read from a real router's API."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from pghelpers import query
from router_helpers import TOKEN, Router, am_alert, am_payload

from vigil import cli, demo
from vigil.audit.demo import seal_for_demo

CANARY = f"CANARY-PATIENT-{uuid.uuid4().hex[:12]}"


async def test_report_has_the_timeline_containments_releases_and_milestones(
        router: Router, demo_db: demo.DemoInfo, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A healthy demo holding a PHI canary (a patient name, encrypted like every other).
    demo.run_load(demo_db, duration=0.5, rate=30)
    query(demo_db.admin_dsn, "INSERT INTO \"Deal\" (tenant_id, title, patient_name_enc, key_id) "
          "SELECT 'tenant-1', 'canary', encrypt_phi(%s, k), k FROM active_key_id() k", (CANARY,))
    seal_for_demo(demo_db.admin_dsn)

    # Detected at 00:00 (the alert's start), incident at 00:02, response at 00:05.
    await router.post(am_payload(am_alert("VigilFailedAccessSpike", "P2")))
    await router.advance(minutes=2)
    status, inc = await router.api("POST", "/api/v1/incidents", json={
        "type": "access", "severity": "P2", "alert_ids": [1],
        "description": f"intruder read {CANARY}"})
    assert status == 201
    await router.advance(minutes=3)
    status, _ = await router.api("POST", f"/api/v1/incidents/{inc['id']}/respond", json={})
    assert status == 200
    # What `vigil incident contain|release` records in the timeline (router's containment
    # routes, another package): requested, approved, in effect at 00:09, released at 00:20.
    # The keys router/containment/store.py records, and a note (free text: left out).
    role = {"kind": "role", "target": "r1", "note": CANARY}
    for minute, kind, detail in ((6, "containment_requested", role),
                                 (7, "containment_approved", role),
                                 (9, "contained", role),
                                 (20, "released", role)):
        router.sql("INSERT INTO vigil_router.events (incident_id, at, kind, actor, detail) "
                   "VALUES (%s, '2026-01-01T00:00:00Z'::timestamptz + %s * interval '1 minute',"
                   " %s, 'sam', %s::jsonb) RETURNING id", inc["id"], minute, kind,
                   json.dumps(detail))
    # One with nothing but its creation.
    _, bare = await router.api("POST", "/api/v1/incidents", json={
        "type": "other", "severity": "P4", "description": "d"})

    url = str(router.client.make_url("")).rstrip("/")

    def report(incident: int, out: Path) -> int:
        return cli.main(["recovery", "report", "--incident", str(incident), "--url", url,
                         "--token", TOKEN, "--dsn", demo_db.admin_dsn, "--out", str(out)])

    assert await asyncio.to_thread(report, inc["id"], tmp_path / "a") == 0
    captured = capsys.readouterr()
    md_path = next((tmp_path / "a").glob(f"recovery-incident-{inc['id']}-*.md"))
    js_path = md_path.with_suffix(".json")
    md, js = md_path.read_text(), js_path.read_text()
    for text in (md, js, captured.out, captured.err):
        assert CANARY not in text
    doc = json.loads(js)
    assert doc["verdict"] == "pass" and len(doc["checklist"]) == 6
    ms = doc["incident"]["milestones"]
    assert ms["detected"]["at"].startswith("2026-01-01T00:00:00.123")
    assert ms["acknowledged"]["seconds_from_detection"] == pytest.approx(300 - 0.123, abs=0.01)
    assert ms["contained"]["seconds_from_detection"] == pytest.approx(540 - 0.123, abs=0.01)
    assert ms["resolved"] == {"at": None, "seconds_from_detection": None}
    assert [e["kind"] for e in doc["incident"]["containments"]] == ["contained"]
    assert [e["kind"] for e in doc["incident"]["releases"]] == ["released"]
    # The incident timeline also carries its linked alerts' events and status moves
    # (router/incident_api.py): the incident's own milestones appear among them, in order.
    kinds = iter(e["kind"] for e in doc["incident"]["timeline"])
    assert all(k in kinds for k in (
        "created", "response_initiated", "containment_requested", "containment_approved",
        "contained", "released"))
    assert "| contained | 2026-01-01T00:09:00+00:00 | 0h 09m 00s |" in md
    assert "| resolved | not reached | - |" in md
    assert '2026-01-01T00:20:00+00:00 released by sam: {"kind": "role", "target": "r1"}' in md
    assert "- ✓ **Tenant isolation**" in md

    # No containment recorded: said, not an error.
    assert await asyncio.to_thread(report, bare["id"], tmp_path / "b") == 0
    md = next((tmp_path / "b").glob("*.md")).read_text()
    assert md.count("none recorded in the incident's timeline") == 2
    assert "| contained | not reached | - |" in md

    # An unknown incident is the router's 404, named.
    assert await asyncio.to_thread(report, 999, tmp_path / "c") == 1
    assert "router answered 404" in capsys.readouterr().err
