"""Notification channels behind one small protocol.

A channel gets a ``Delivery`` (the stored payload, its target and idempotency
key) and either returns (delivered) or raises ``DeliveryError``; ``retryable``
says whether the outbox should try again. Adding a channel is one class with a
``send`` method plus one line in ``registry.build``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp

from router.config import Channel as ChannelConfig


@dataclasses.dataclass(frozen=True)
class Delivery:
    key: str                     # idempotency key, stable across retries and replicas
    target: str
    to: tuple[str, ...]          # the target's addresses (email)
    payload: dict[str, Any]
    attempt: int


class DeliveryError(Exception):
    def __init__(self, message: str, retryable: bool = True) -> None:
        self.retryable = retryable
        super().__init__(message)


class Channel(Protocol):
    name: str
    type: str
    timeout: float

    async def send(self, delivery: Delivery) -> None:
        """Deliver or raise DeliveryError."""
        ...


def summary_text(payload: dict[str, Any]) -> str:
    """One human line: ``[P1] escalation step 2: RLSOverheadHigh (alert 12)``."""
    kind = payload.get("kind", "notification")
    if "alert" in payload:
        a = payload["alert"]
        what = a.get("annotations", {}).get("summary") or a.get("alertname") or "alert"
        step = f" step {payload['step']}" if kind == "escalation" else ""
        return f"[{a.get('severity')}] {kind}{step}: {what} (alert {a.get('id')})"
    if "oncall" in payload and kind == "handoff":
        o = payload["oncall"]
        until = f" until {o['until']}" if o.get("until") else ""
        return f"on call: {o.get('person')} takes over {o.get('schedule')}{until}"
    i = payload.get("incident", {})
    return f"[{i.get('severity')}] incident {i.get('id')} {i.get('type')}: {i.get('description')}"


# A receiver's error body is kept only when it is a short code (Slack's "invalid_payload",
# "no_service"): a proxy that echoes the request would otherwise copy headers or alert text
# into last_error, which the API and the timeline show.
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def check_status(status: int, body: str) -> None:
    """2xx delivered; 408/429/5xx retried; any other 4xx is final (retrying can't help)."""
    if 200 <= status < 300:
        return
    retryable = status >= 500 or status in (408, 425, 429)
    code = body.strip()
    detail = f": {code}" if _ERROR_CODE.fullmatch(code) else ""
    raise DeliveryError(f"HTTP {status}{detail}", retryable=retryable)


class HttpChannel:
    """A channel that POSTs to a receiver over the router's shared aiohttp session: the
    status decides (``check_status``); a network error is retried, and only its class is
    kept (its text may hold the URL)."""

    type = "http"

    def __init__(self, name: str, cfg: ChannelConfig, session: aiohttp.ClientSession) -> None:
        self.name = name
        self.cfg = cfg
        self.session = session
        self.timeout = float(cfg.timeout)

    async def post(self, url: str, data: str | bytes, headers: Mapping[str, str]) -> None:
        try:
            async with self.session.post(url, data=data, headers=dict(headers),
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as r:
                check_status(r.status, await r.text(errors="replace"))
        except aiohttp.ClientError as exc:
            raise DeliveryError(type(exc).__name__) from None
