"""Generic JSON webhook and Slack-compatible incoming webhook."""

from __future__ import annotations

import json

import aiohttp

from router.channels import Delivery, DeliveryError, check_status, summary_text
from router.config import Channel as ChannelConfig


class WebhookChannel:
    """POSTs the stored payload as JSON, with the key in ``Idempotency-Key``."""

    type = "webhook"

    def __init__(self, name: str, cfg: ChannelConfig, session: aiohttp.ClientSession) -> None:
        self.name = name
        self.cfg = cfg
        self.session = session
        self.timeout = float(cfg.timeout)

    def body(self, d: Delivery) -> bytes:
        return json.dumps(d.payload, default=str).encode()

    async def send(self, d: Delivery) -> None:
        assert self.cfg.url
        headers = {"Content-Type": "application/json", "Idempotency-Key": d.key,
                   "User-Agent": "vigil-router", **dict(self.cfg.headers)}
        try:
            async with self.session.post(self.cfg.url, data=self.body(d), headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as r:
                text = await r.text(errors="replace")
                check_status(r.status, text)
        except aiohttp.ClientError as exc:
            raise DeliveryError(type(exc).__name__) from None  # its text may hold the URL


class SlackChannel(WebhookChannel):
    """Slack (and Mattermost, Rocket.Chat) incoming webhooks: ``{"text": ...}``."""

    type = "slack"

    def body(self, d: Delivery) -> bytes:
        return json.dumps({"text": f"{summary_text(d.payload)} [{d.key}]"}).encode()
