"""Milestones of an incident from its record, alerts and timeline (no router needed)."""

from __future__ import annotations

import stat
from pathlib import Path

from vigil.recovery.incident import is_containment, summarize
from vigil.recovery.report import markdown, write


def test_only_a_containment_that_took_effect_counts() -> None:
    assert is_containment("contained") and is_containment("containment_verified")
    for kind in ("containment_planned", "containment_requested", "containment_approved",
                 "containment_refused", "containment_failed", "contain_dry_run", "released",
                 "containment_unverified"):
        assert not is_containment(kind), kind


def test_milestones_are_timed_from_the_earliest_detection() -> None:
    incident = {"id": 4, "type": "access", "severity": "P1", "status": "closed",
                "description": "free text, never copied", "alert_ids": [9],
                "created_at": "2026-01-01T00:10:00+00:00", "responded_at": None}
    alerts = [{"id": 9, "starts_at": "2026-01-01T00:00:00+00:00",
               "acked_at": "2026-01-01T00:04:00+00:00"}]
    events = [
        {"at": "2026-01-01T00:10:00+00:00", "kind": "created", "actor": "a", "detail": {}},
        {"at": "2026-01-01T00:12:00+00:00", "kind": "containment_planned", "actor": "a",
         "detail": {}},
        {"at": "2026-01-01T00:15:00+00:00", "kind": "contained", "actor": "b",
         "detail": {"target": "tenant"}},
        {"at": "2026-01-01T01:00:00+00:00", "kind": "released", "actor": "b", "detail": {}},
        {"at": "2026-01-01T02:00:00+00:00", "kind": "resolved", "actor": "b", "detail": {}},
    ]
    doc = summarize(incident, alerts, events)
    ms = {k: v["seconds_from_detection"] for k, v in doc["milestones"].items()}
    assert ms == {"detected": 0.0, "acknowledged": 240.0, "contained": 900.0,
                  "resolved": 7200.0}
    assert [e["kind"] for e in doc["containments"]] == ["contained"]
    assert [e["kind"] for e in doc["releases"]] == ["released"]
    assert "description" not in doc
    md = markdown({"generated_at": "2026-01-01T03:00:00+00:00", "database": "d",
                   "verdict": "pass", "checklist": [], "incident": doc})
    assert "| resolved | 2026-01-01T02:00:00+00:00 | 2h 00m 00s |" in md
    assert "free text" not in md


def test_event_notes_are_left_out_and_the_report_files_are_private(tmp_path: Path) -> None:
    """A note (a responder's prose: may name a patient) never reaches the report."""
    incident = {"id": 5, "type": "access", "severity": "P2", "status": "responding",
                "alert_ids": [], "created_at": "2026-01-01T00:00:00+00:00"}
    events = [
        {"at": "2026-01-01T00:01:00+00:00", "kind": "status_changed", "actor": "a",
         "detail": {"from": "open", "to": "responding", "note": "called Jane Roe's ward"}},
        {"at": "2026-01-01T00:02:00+00:00", "kind": "contained", "actor": "b",
         "detail": {"target": "tenant-2", "kind": "tenant", "description": "Jane Roe",
                    "reason": "Jane Roe"}},
    ]
    doc = summarize(incident, [], events)
    assert doc["timeline"][0]["detail"] == {"from": "open", "to": "responding"}
    assert doc["containments"][0]["detail"] == {"target": "tenant-2", "kind": "tenant"}
    report = {"generated_at": "2026-01-01T03:00:00+00:00", "database": "d",
              "verdict": "pass", "checklist": [], "incident": doc}
    for path in write(report, tmp_path):
        assert "Jane Roe" not in path.read_text()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_the_writes_a_contained_actor_attempted_lead_its_release_line() -> None:
    """The release's verification carries the count (schema 020); the report names it."""
    incident = {"id": 6, "type": "access", "severity": "P1", "status": "closed",
                "alert_ids": [], "created_at": "2026-01-01T00:00:00+00:00"}
    check = {"ok": True, "state": "released", "refused_writes": 3, "checks": []}
    events = [
        {"at": "2026-01-01T00:02:00+00:00", "kind": "contained", "actor": "b",
         "detail": {"target": "user-9", "kind": "actor",
                    "verification": {**check, "state": "contained", "refused_writes": 0}}},
        {"at": "2026-01-01T00:09:00+00:00", "kind": "released", "actor": "b",
         "detail": {"target": "user-9", "kind": "actor", "verification": check}},
        {"at": "2026-01-01T00:10:00+00:00", "kind": "released", "actor": "b",
         "detail": {"target": "tenant-2", "kind": "tenant",
                    "verification": {**check, "refused_writes": None}}},
    ]
    md = markdown({"generated_at": "2026-01-01T03:00:00+00:00", "database": "d",
                   "verdict": "pass", "checklist": [],
                   "incident": summarize(incident, [], events)})
    assert "- 2026-01-01T00:09:00+00:00 released by b (3 write(s) refused while contained)" in md
    assert "contained by b (0 write(s) refused while contained)" in md
    assert "00:10:00+00:00 released by b:" in md   # a tenant: no count, no claim
