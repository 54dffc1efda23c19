"""What the sink remembers: one ``Page`` per delivery, in arrival order.

The router's channels (generic JSON webhook, Slack-style incoming webhook)
post here. The sink does not know the router's exact payload shape, so it
reads the few facts it shows (target, step, severity, alert, idempotency key)
leniently from headers, the URL and common body fields, and keeps the raw body
for anything else. Duplicates (same idempotency key) are recorded and flagged,
never dropped: counting them is the point of an at-least-once sink.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

# Body fields that may carry each fact, most specific first.
_TARGET_KEYS = ("target", "recipient", "to")
_STEP_KEYS = ("step", "step_index", "escalation_step")
_KEY_KEYS = ("idempotency_key", "idempotencyKey", "dedup_key", "key")
_SEVERITY_KEYS = ("severity", "level", "priority")
_KIND_KEYS = ("kind", "event", "type", "action", "status")
_ALERT_KEYS = ("alertname", "alert_name", "title", "name")
_ALERT_ID_KEYS = ("alert_id", "alertId", "id")

IDEMPOTENCY_HEADERS = ("Idempotency-Key", "X-Idempotency-Key", "X-Vigil-Idempotency-Key")


@dataclasses.dataclass(frozen=True)
class Page:
    seq: int
    received_at: datetime
    channel: str  # "webhook" or "slack": which endpoint it came through
    target: str
    step: int | None
    severity: str | None
    kind: str | None
    alertname: str | None
    alert_id: str | None
    idempotency_key: str | None
    duplicate: bool
    text: str | None
    body: Any

    def to_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["received_at"] = self.received_at.isoformat()
        return doc

    def line(self) -> str:
        """One terminal line: when, who, which step, what."""
        parts = [
            self.received_at.strftime("%H:%M:%S"),
            "PAGE",
            f"{self.target:<14}",
            f"step={self.step if self.step is not None else '-'}",
            self.severity or "-",
            self.kind or "-",
            self.alertname or "-",
            f"via={self.channel}",
            f"key={self.idempotency_key or '-'}",
        ]
        if self.duplicate:
            parts.append("DUPLICATE")
        return " ".join(parts)


def _first(mappings: Iterable[Mapping[str, Any]], keys: tuple[str, ...]) -> Any:
    for mapping in mappings:
        for key in keys:
            value = mapping.get(key)
            if value not in (None, ""):
                return value
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _str_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _scopes(body: Any) -> list[Mapping[str, Any]]:
    """The body and the nested mappings the facts may live in (alert, labels, metadata)."""
    if not isinstance(body, dict):
        return []
    scopes: list[Mapping[str, Any]] = [body]
    for key in ("vigil", "metadata", "notification", "alert", "labels"):
        nested = body.get(key)
        if isinstance(nested, dict):
            scopes.append(nested)
            labels = nested.get("labels")
            if isinstance(labels, dict):
                scopes.append(labels)
    return scopes


def describe(body: Any, *, channel: str, target: str | None,
             headers: Mapping[str, str]) -> dict[str, Any]:
    """Pull the facts a page shows out of one delivery."""
    scopes = _scopes(body)
    key = next((headers[h] for h in IDEMPOTENCY_HEADERS if headers.get(h)), None)
    text = None
    if isinstance(body, dict):
        text = _str_or_none(body.get("text") or body.get("summary") or body.get("message"))
    return {
        "channel": channel,
        "target": target or _str_or_none(_first(scopes, _TARGET_KEYS))
        or headers.get("X-Vigil-Target") or "unknown",
        "step": _as_int(headers.get("X-Vigil-Step")) if headers.get("X-Vigil-Step")
        else _as_int(_first(scopes, _STEP_KEYS)),
        "severity": _str_or_none(_first(scopes, _SEVERITY_KEYS)),
        "kind": _str_or_none(_first(scopes, _KIND_KEYS)),
        "alertname": _str_or_none(_first(scopes, _ALERT_KEYS)),
        "alert_id": _str_or_none(_first(scopes, _ALERT_ID_KEYS)),
        "idempotency_key": key or _str_or_none(_first(scopes, _KEY_KEYS)),
        "text": text,
    }


class PageStore:
    """Thread-safe, append-only list of pages, optionally mirrored to a JSON-lines file."""

    def __init__(self, record_path: Path | None = None, max_pages: int = 10_000) -> None:
        self._pages: list[Page] = []
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        self._record_path = record_path
        self._max = max_pages
        self._seq = 0

    def add(self, *, received_at: datetime, body: Any, **facts: Any) -> Page:
        with self._lock:
            key = facts.get("idempotency_key")
            duplicate = key is not None and key in self._keys
            if key is not None:
                self._keys.add(key)
            self._seq += 1
            page = Page(seq=self._seq, received_at=received_at, duplicate=duplicate, body=body,
                        **facts)
            self._pages.append(page)
            if len(self._pages) > self._max:
                del self._pages[: len(self._pages) - self._max]
            if self._record_path is not None:
                with self._record_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(page.to_json(), default=str) + "\n")
        return page

    def pages(self, *, target: str | None = None, alertname: str | None = None,
              since: int = 0) -> list[Page]:
        with self._lock:
            snapshot = list(self._pages)
        return [p for p in snapshot
                if p.seq > since
                and (target is None or p.target == target)
                and (alertname is None or p.alertname == alertname)]

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._keys.clear()
