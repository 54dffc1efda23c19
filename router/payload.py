"""The Alertmanager webhook body (version 4) → the alerts to store, and what was refused.

Shape (alertmanager notify/webhook/webhook.go ``Message`` embedding template.Data):
``{version, groupKey, truncatedAlerts, receiver, status, alerts[], groupLabels,
commonLabels, commonAnnotations, externalURL}``; each alert has ``status, labels,
annotations, startsAt, endsAt, generatorURL, fingerprint``. Unknown fields are ignored so
newer Alertmanagers keep working.

**One bad alert does not poison its group.** Alertmanager sends a group's alerts together,
treats a 4xx as final and retries a 5xx forever: refusing the whole body for one alert's NUL
character would drop the P1 beside it (a 400) or hold it back forever (a 500). So an alert
PostgreSQL can't store, or that is malformed, is refused on its own and the others are
stored; the answer is then a 400 naming the first refused field (never its value), so
Alertmanager logs it and does not retry. Top-level fields vigil doesn't read are dropped
from the stored copy if they can't be stored. Only a body that is not JSON, not version 4,
or nested beyond reason is refused whole.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from router.validate import PayloadError, parse, problem_in

__all__ = ["AlertIn", "Parsed", "PayloadError", "parse_payload", "parse_time"]


@dataclasses.dataclass(frozen=True)
class AlertIn:
    index: int                   # position in the stored body's ``alerts`` list
    status: str
    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str


@dataclasses.dataclass(frozen=True)
class Parsed:
    alerts: list[AlertIn]
    body: bytes                  # what to store: the request's own text, unless cleaned
    refused: list[PayloadError]  # alerts and fields left out, first one first


def parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise PayloadError(field, "expected an RFC 3339 timestamp string")
    try:
        # Go sends nanoseconds: Python >= 3.11 truncates fractions past 6 digits itself.
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadError(field, "invalid RFC 3339 timestamp") from None
    if when.tzinfo is None:
        raise PayloadError(field, "timestamp needs a time zone (Z or +hh:mm)")
    try:
        return when.astimezone(UTC)
    except (OverflowError, ValueError):   # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise PayloadError(field, "timestamp out of range") from None


def _str_map(value: Any, field: str, required: bool) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(field, "expected an object of string values")
    for v in value.values():
        if not isinstance(v, str):
            raise PayloadError(field, "expected string values")   # names no label: data
    return value


def fallback_fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def _alert(a: Any, where: str, index: int) -> AlertIn:
    if not isinstance(a, dict):
        raise PayloadError(where, "expected an object")
    problem = problem_in(a, where)
    if problem:
        raise problem
    status = a.get("status")
    if status not in ("firing", "resolved"):
        raise PayloadError(f"{where}.status", "expected firing or resolved")
    labels = _str_map(a.get("labels"), f"{where}.labels", True)
    annotations = _str_map(a.get("annotations"), f"{where}.annotations", False)
    starts_at = parse_time(a.get("startsAt"), f"{where}.startsAt")
    ends_raw = a.get("endsAt")
    ends_at = parse_time(ends_raw, f"{where}.endsAt") if ends_raw else None
    if ends_at is not None and ends_at.year < 1970:
        ends_at = None  # Go's zero time: not set
    fp = a.get("fingerprint")
    if fp is not None and (not isinstance(fp, str) or not fp):
        raise PayloadError(f"{where}.fingerprint", "expected a non-empty string")
    gen = a.get("generatorURL") or ""
    if not isinstance(gen, str):
        raise PayloadError(f"{where}.generatorURL", "expected a string")
    return AlertIn(index, status, fp or fallback_fingerprint(labels), starts_at, ends_at,
                   labels, annotations, gen)


def parse_payload(body: bytes) -> Parsed:
    """Validate a webhook body; raise PayloadError if it is unusable as a whole, else
    return the alerts to store and what was refused (see the module docstring).

    The body must be UTF-8 (as Alertmanager sends it): the ingest statement reads the
    labels and annotations from the very text stored."""
    doc = parse(body)
    if not isinstance(doc, dict):
        raise PayloadError("body", "expected a JSON object")
    if doc.get("version") != "4":
        raise PayloadError("version", "expected \"4\" (Alertmanager webhook v4)")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts", "expected a list")
    refused: list[PayloadError] = []
    kept: dict[str, Any] = {}
    for key, value in doc.items():
        if key != "alerts":
            problem = problem_in(value, key if key in _TOP else "body")
            if problem:
                refused.append(problem)
                continue
        kept[key] = value
    good: list[tuple[Any, AlertIn]] = []
    for i, a in enumerate(alerts):
        try:
            good.append((a, _alert(a, f"alerts[{i}]", len(good))))
        except PayloadError as exc:
            refused.append(exc)
    if not refused:
        return Parsed([alert for _, alert in good], body, [])
    # Something was left out: store a clean copy holding only what is stored.
    kept["alerts"] = [raw for raw, _ in good]
    return Parsed([alert for _, alert in good], json.dumps(kept).encode(), refused)


_TOP = frozenset({"groupKey", "truncatedAlerts", "receiver", "status", "groupLabels",
                  "commonLabels", "commonAnnotations", "externalURL"})
