"""An incident as the recovery report shows it: read from the router API (its record, its
alerts, its timeline), with the time from detection to each milestone.

Containment and release are recorded in the incident's timeline by ``vigil incident
contain|release``; an incident without them simply has no such milestone. Only identifiers,
kinds, times and the allow-listed keys of the events' details are kept; the free-text
description and the events' notes are left out (a person's prose, which may name a patient).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

# Event kinds that mean "a containment took effect": the containment's own kinds (router's
# containment routes: containment_requested, containment_approved, contained or
# containment_unverified), minus those that only plan, ask, approve, fail or were not verified.
_NOT_EFFECTIVE = ("plan", "request", "approv", "refus", "fail", "dry", "unverified")
_ACK_KINDS = frozenset({"acknowledged", "acked", "response_initiated"})
_RESOLVED_KINDS = frozenset({"resolved", "closed"})
# Keys of an event's detail that hold identifiers, states, counts and times (router/incidents.py,
# router/incident_api.py, router/containment/store.py, router/evidence.py, router/sql/*.sql).
# Anything else (note, reason, description: free text) is dropped: an allow-list, so a key
# added later stays out until someone decides it is safe.
_DETAIL_KEYS = frozenset({
    "incident_id", "alert_ids", "type", "severity", "status", "from", "to", "notified",
    "oncall", "step", "targets", "due_at", "response_time_seconds", "containment_id",
    "database", "kind", "target", "approvals_needed", "statements", "requested_by",
    "verification", "evidence_id", "manifest_hash"})


def _at(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def is_containment(kind: str) -> bool:
    return kind.startswith("contain") and not any(w in kind for w in _NOT_EFFECTIVE)


def _detail(detail: object) -> dict[str, Any]:
    if not isinstance(detail, dict):
        return {}
    return {k: v for k, v in detail.items() if k in _DETAIL_KEYS}


def read(get: Callable[[str], Any], incident_id: int) -> dict[str, Any]:
    """``get(path)``: a GET on the router API (router/client_cli.py's client)."""
    incident = get(f"/api/v1/incidents/{incident_id}")
    events = get(f"/api/v1/incidents/{incident_id}/timeline")["events"]
    alerts = [get(f"/api/v1/alerts/{a}") for a in incident.get("alert_ids") or []]
    return summarize(incident, alerts, events)


def summarize(incident: dict[str, Any], alerts: list[dict[str, Any]],
              events: list[dict[str, Any]]) -> dict[str, Any]:
    events = [{"at": e["at"], "kind": e["kind"], "actor": e.get("actor"),
               "detail": _detail(e.get("detail"))} for e in events]
    kinds = [(str(e["kind"]), _at(e["at"])) for e in events]
    detected = min([t for t in [_at(incident.get("created_at")),
                                *(_at(a.get("starts_at")) for a in alerts)] if t],
                   default=None)
    acked = [_at(incident.get("responded_at")), _at(incident.get("acknowledged_at")),
             *(_at(a.get("acked_at")) for a in alerts),
             *(t for k, t in kinds if k in _ACK_KINDS)]
    resolved = [_at(incident.get("resolved_at")), _at(incident.get("closed_at")),
                *(t for k, t in kinds if k in _RESOLVED_KINDS)]
    milestones = {
        "detected": detected,
        "acknowledged": min([t for t in acked if t], default=None),
        "contained": min([t for k, t in kinds if t and is_containment(k)], default=None),
        "resolved": min([t for t in resolved if t], default=None),
    }
    return {
        "id": incident["id"], "type": incident.get("type"), "severity": incident.get("severity"),
        "status": incident.get("status"), "alert_ids": incident.get("alert_ids") or [],
        "milestones": {name: {"at": when.isoformat() if when else None,
                              "seconds_from_detection": (when - detected).total_seconds()
                              if when and detected else None}
                       for name, when in milestones.items()},
        "timeline": events,
        "containments": [e for e in events if is_containment(str(e["kind"]))],
        "releases": [e for e in events if str(e["kind"]).startswith("release")],
    }
