"""PagerDuty Events API v2 (optional): trigger on escalation, resolve on resolve."""

from __future__ import annotations

import json

from router.channels import Delivery, HttpChannel, summary_text

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}


class PagerDutyChannel(HttpChannel):
    type = "pagerduty"

    def body(self, d: Delivery) -> dict[str, object]:
        p = d.payload
        subject = p.get("alert") or p.get("incident") or {}
        dedup = f"vigil-{'a' if 'alert' in p else 'i'}{subject.get('id')}"
        if p.get("kind") == "handoff":   # an on-call hand-off notice: its own, low event
            dedup, subject = d.key, {"severity": "P4"}
        doc: dict[str, object] = {
            "routing_key": str(self.cfg.routing_key), "dedup_key": dedup,
            "event_action": "resolve" if p.get("kind") == "resolved" else "trigger"}
        if doc["event_action"] == "trigger":
            doc["payload"] = {"summary": summary_text(p)[:1024], "source": "vigil-router",
                              "severity": _SEVERITY.get(str(subject.get("severity")), "warning"),
                              "custom_details": {"idempotency_key": d.key, **p}}
        return doc

    async def send(self, d: Delivery) -> None:
        await self.post(self.cfg.url or EVENTS_URL, json.dumps(self.body(d), default=str),
                        {"Content-Type": "application/json"})
