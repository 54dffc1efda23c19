"""PagerDuty Events API v2 (optional): trigger on escalation, resolve on resolve."""

from __future__ import annotations

import json

import aiohttp

from router.channels import Delivery, DeliveryError, check_status, summary_text
from router.config import Channel as ChannelConfig

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}


class PagerDutyChannel:
    type = "pagerduty"

    def __init__(self, name: str, cfg: ChannelConfig, session: aiohttp.ClientSession) -> None:
        self.name = name
        self.cfg = cfg
        self.session = session
        self.timeout = float(cfg.timeout)

    def body(self, d: Delivery) -> dict[str, object]:
        p = d.payload
        subject = p.get("alert") or p.get("incident") or {}
        dedup = f"vigil-{'a' if 'alert' in p else 'i'}{subject.get('id')}"
        doc: dict[str, object] = {
            "routing_key": str(self.cfg.routing_key), "dedup_key": dedup,
            "event_action": "resolve" if p.get("kind") == "resolved" else "trigger"}
        if doc["event_action"] == "trigger":
            doc["payload"] = {"summary": summary_text(p)[:1024], "source": "vigil-router",
                              "severity": _SEVERITY.get(str(subject.get("severity")), "warning"),
                              "custom_details": {"idempotency_key": d.key, **p}}
        return doc

    async def send(self, d: Delivery) -> None:
        try:
            async with self.session.post(self.cfg.url or EVENTS_URL,
                                         data=json.dumps(self.body(d), default=str),
                                         headers={"Content-Type": "application/json"},
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as r:
                check_status(r.status, await r.text(errors="replace"))
        except aiohttp.ClientError as exc:
            raise DeliveryError(type(exc).__name__) from None  # its text may hold the URL
