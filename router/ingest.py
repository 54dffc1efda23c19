"""Alertmanager webhook (version 4) → alerts, durably, in one transaction per request.

Shape (alertmanager notify/webhook/webhook.go ``Message`` embedding template.Data):
``{version, groupKey, truncatedAlerts, receiver, status, alerts[], groupLabels,
commonLabels, commonAnnotations, externalURL}``; each alert has ``status, labels,
annotations, startsAt, endsAt, generatorURL, fingerprint``. Unknown fields are
ignored so newer Alertmanagers keep working.

Identity is (fingerprint, startsAt): a repeat is a no-op counted on the timeline,
``resolved`` resolves, a new startsAt opens a new alert. Nothing is sent from here:
the engine and the outbox pick the new rows up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from router import store
from router.matrix import Matrix


class PayloadError(ValueError):
    """The body is malformed; ``field`` names where (``alerts[2].startsAt``)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


@dataclasses.dataclass(frozen=True)
class AlertIn:
    status: str
    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise PayloadError(field, "expected an RFC 3339 timestamp string")
    text = _FRACTION.sub(r"\1", value.strip())  # Go sends nanoseconds
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(field, f"invalid RFC 3339 timestamp {value[:40]!r}") from None
    if when.tzinfo is None:
        raise PayloadError(field, "timestamp needs a time zone (Z or +hh:mm)")
    return when.astimezone(UTC)


def _str_map(value: Any, field: str, required: bool) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(field, "expected an object of string values")
    for k, v in value.items():
        if not isinstance(v, str):
            raise PayloadError(f"{field}.{k}", "expected a string")
    return value


def fallback_fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def parse_payload(body: bytes) -> list[AlertIn]:
    """Validate a webhook body; raise PayloadError naming the first bad field."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("body", "not valid JSON") from None
    if not isinstance(doc, dict):
        raise PayloadError("body", "expected a JSON object")
    version = doc.get("version")
    if version != "4":
        raise PayloadError("version", f"expected \"4\" (Alertmanager webhook v4), got {version!r}")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts", "expected a list")
    out = []
    for i, a in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(a, dict):
            raise PayloadError(where, "expected an object")
        status = a.get("status")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"{where}.status", f"expected firing or resolved, got {status!r}")
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
        out.append(AlertIn(status, fp or fallback_fingerprint(labels), starts_at, ends_at,
                           labels, annotations, gen))
    return out


@dataclasses.dataclass
class IngestResult:
    new: int = 0
    duplicates: int = 0
    resolved: int = 0
    severities: list[str] = dataclasses.field(default_factory=list)   # of new alerts
    fallbacks: int = 0


_UPSERT = """
INSERT INTO vigil_router.alerts AS a
    (fingerprint, starts_at, alertname, severity, severity_raw, labels, annotations,
     generator_url, status, received_at, last_seen_at, response_deadline, ends_at, resolved_at,
     resolved_by)
VALUES (%(fp)s, %(starts)s, %(name)s, %(sev)s, %(raw)s, %(labels)s, %(ann)s, %(gen)s,
        %(status)s, %(now)s, %(now)s, %(deadline)s, %(ends)s, %(resolved_at)s, %(resolved_by)s)
ON CONFLICT (fingerprint, starts_at) DO UPDATE
    SET last_seen_at = excluded.last_seen_at, duplicates = a.duplicates + 1
RETURNING a.id, (xmax = 0) AS inserted, a.status, a.severity
"""


async def ingest(conn: AsyncConnection[Any], matrix: Matrix, alerts: list[AlertIn],
                 body: bytes, now: datetime, *, store_raw: bool = True) -> IngestResult:
    """Store one webhook request in one transaction (pipelined: about three round trips)."""
    res = IngestResult()
    # A stable lock order keeps concurrent requests with the same alerts deadlock-free.
    ordered = sorted(alerts, key=lambda x: (x.fingerprint, x.starts_at))
    sevs = [matrix.severity(a.labels) for a in ordered]
    async with conn.transaction(), conn.pipeline():
        if store_raw:
            await conn.execute("INSERT INTO vigil_router.raw_payloads (received_at, body) "
                               "VALUES (%s, %s)", (now, body.decode("utf-8", "replace")))
        cursors = []
        for a, sev in zip(ordered, sevs, strict=True):
            firing = a.status == "firing"
            cur = conn.cursor()
            await cur.execute(_UPSERT, {
                "fp": a.fingerprint, "starts": a.starts_at, "name": a.labels.get("alertname", ""),
                "sev": sev.level, "raw": sev.raw, "labels": Jsonb(a.labels),
                "ann": Jsonb(a.annotations), "gen": a.generator_url,
                "status": "open" if firing else "resolved", "now": now,
                "deadline": now + timedelta(seconds=matrix.response_time(sev.level)),
                "ends": a.ends_at, "resolved_at": None if firing else now,
                "resolved_by": None if firing else "alertmanager"})
            cursors.append(cur)
        events: list[tuple[Any, ...]] = []
        steps: list[tuple[Any, ...]] = []
        to_resolve: list[int] = []
        for a, sev, cur in zip(ordered, sevs, cursors, strict=True):
            row = await cur.fetchone()
            assert row is not None
            alert_id, inserted, status = row[0], row[1], row[2]
            firing = a.status == "firing"
            if inserted:
                res.new += 1
                res.severities.append(sev.level)
                detail: dict[str, Any] = {"severity": sev.level, "fingerprint": a.fingerprint,
                                          "status": a.status}
                if sev.fallback:
                    res.fallbacks += 1
                    detail["severity_fallback"] = sev.raw
                events.append((alert_id, now, "received", None, Jsonb(detail)))
                if firing:
                    steps += [(alert_id, p.kind, p.step_no, now + timedelta(seconds=p.delay),
                               list(p.targets)) for p in matrix.plan(sev.level)]
                else:
                    res.resolved += 1
                    events.append((alert_id, now, "resolved", "alertmanager",
                                   Jsonb({"first_seen_resolved": True})))
            elif not firing and status != "resolved":
                res.resolved += 1
                to_resolve.append(alert_id)
            else:
                res.duplicates += 1
                events.append((alert_id, now, "duplicate_suppressed", None,
                               Jsonb({"status": a.status})))
        async with conn.cursor() as c:
            if events:
                await c.executemany(
                    "INSERT INTO vigil_router.events (alert_id, at, kind, actor, detail) "
                    "VALUES (%s, %s, %s, %s, %s)", events)
            if steps:
                await c.executemany(
                    "INSERT INTO vigil_router.steps (alert_id, kind, step_no, due_at, targets) "
                    "VALUES (%s, %s, %s, %s, %s)", steps)
        for alert_id in to_resolve:
            await store.resolve(conn, matrix, alert_id, now, "alertmanager")
    return res
