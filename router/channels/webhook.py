"""Generic JSON webhook and Slack-compatible incoming webhook."""

from __future__ import annotations

import json

from router.channels import Delivery, HttpChannel, summary_text


class WebhookChannel(HttpChannel):
    """POSTs the stored payload as JSON, with the key in ``Idempotency-Key``."""

    type = "webhook"

    def body(self, d: Delivery) -> bytes:
        return json.dumps(d.payload, default=str).encode()

    async def send(self, d: Delivery) -> None:
        assert self.cfg.url
        headers = {"Content-Type": "application/json", "Idempotency-Key": d.key,
                   "User-Agent": "vigil-router", **dict(self.cfg.headers)}
        await self.post(self.cfg.url, self.body(d), headers)


class SlackChannel(WebhookChannel):
    """Slack (and Mattermost, Rocket.Chat) incoming webhooks: ``{"text": ...}``."""

    type = "slack"

    def body(self, d: Delivery) -> bytes:
        text = f"{summary_text(d.payload)} [{d.key}]"
        link = d.payload.get("ack_url")
        if link:   # the same signed, single-use link as every other channel's payload
            text += f"\n<{link}|Acknowledge> (link valid until {d.payload.get('ack_expires_at')})"
        return json.dumps({"text": text}).encode()
