"""SQL for the router's state: alerts, plan rows, outbox rows, the timeline, incidents.

Every function takes an open connection and the router clock's ``now``; the
caller owns the transaction, so one request or one engine tick is one commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from router.matrix import Matrix, Planned

Row = dict[str, Any]

ALERT_COLUMNS = """id, fingerprint, starts_at, alertname, severity, severity_raw, labels,
    annotations, generator_url, status, received_at, last_seen_at, response_deadline,
    duplicates, acked_at, acked_by, ack_note, resolved_at, resolved_by, ends_at, sla_breached"""


async def event(conn: AsyncConnection[Any], now: datetime, kind: str, *,
                alert_id: int | None = None, incident_id: int | None = None,
                actor: str | None = None, detail: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO vigil_router.events (alert_id, incident_id, at, kind, actor, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (alert_id, incident_id, now, kind, actor, Jsonb(detail or {})))


async def schedule(conn: AsyncConnection[Any], alert_id: int, plan: Sequence[Planned],
                   now: datetime) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO vigil_router.steps (alert_id, kind, step_no, due_at, targets) "
            "VALUES (%s, %s, %s, %s, %s)",
            [(alert_id, p.kind, p.step_no, now + timedelta(seconds=p.delay), list(p.targets))
             for p in plan])


def alert_summary(a: Row) -> dict[str, Any]:
    """What a notification carries about an alert: labels and annotations, no raw payload."""
    return {
        "id": a["id"], "fingerprint": a["fingerprint"], "alertname": a["alertname"],
        "severity": a["severity"], "status": a["status"],
        "starts_at": a["starts_at"].isoformat(), "labels": a["labels"],
        "annotations": a["annotations"], "generator_url": a["generator_url"],
    }


def idempotency_key(subject: str, step: str, target: str) -> str:
    """Stable per (alert or incident, step, target): the same across retries and replicas."""
    return f"vigil-{subject}-{step}-{target}"


_ENQUEUE = """
INSERT INTO vigil_router.outbox (idempotency_key, alert_id, incident_id, kind, target, channel,
                                 payload, next_attempt_at, created_at)
SELECT key, alert_id, incident_id, kind, target, channel, payload, %(now)s, %(now)s
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(n int, key text, alert_id bigint,
    incident_id bigint, kind text, target text, channel text, payload jsonb)
ORDER BY n
ON CONFLICT (idempotency_key) DO NOTHING
"""


async def enqueue(conn: AsyncConnection[Any], matrix: Matrix, now: datetime,
                  items: Iterable[tuple[str, Row, str, str, str, dict[str, Any]]],
                  public_url: str = "") -> int:
    """Write notifications into the outbox. Each item: (key, alert-or-incident row,
    subject kind 'alert'|'incident', notification kind, target, extra payload).
    A key already present is skipped (ON CONFLICT DO NOTHING). One statement, however
    many rows: the rows travel as one JSON document."""
    rows: list[dict[str, Any]] = []
    summaries: dict[tuple[str, int], dict[str, Any]] = {}
    for key, subject, skind, nkind, target, extra in items:
        channel = matrix.channel_of(target)
        payload: dict[str, Any] = {"idempotency_key": key, "kind": nkind, "target": target,
                                   "channel": channel, **extra}
        summary = summaries.get((skind, subject["id"]))
        if summary is None:
            if skind == "alert":
                summary = alert_summary(subject)
                if public_url:
                    summary["url"] = f"{public_url}/api/v1/alerts/{subject['id']}"
            else:
                summary = incident_summary(subject)
            summaries[(skind, subject["id"])] = summary
        payload[skind] = summary
        rows.append({"n": len(rows), "key": key,
                     "alert_id": subject["id"] if skind == "alert" else None,
                     "incident_id": subject["id"] if skind == "incident" else None,
                     "kind": nkind, "target": target, "channel": channel, "payload": payload})
    if not rows:
        return 0
    await conn.execute(_ENQUEUE, {"now": now, "rows": json.dumps(rows)})
    return len(rows)


async def get_alert(conn: AsyncConnection[Any], alert_id: int, lock: bool = False) -> Row | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {ALERT_COLUMNS} FROM vigil_router.alerts WHERE id = %s"
                          + (" FOR UPDATE" if lock else ""), (alert_id,))
        return await cur.fetchone()


async def _cancel(conn: AsyncConnection[Any], alert_id: int,
                  keep_due_by: datetime | None) -> int:
    """Cancel the alert's pending SLA check and its pending steps, except (``keep_due_by``)
    the steps due by then: they fell due while the alert was open and still fire."""
    cur = await conn.execute(
        "UPDATE vigil_router.steps SET state = 'cancelled' "
        "WHERE alert_id = %(id)s AND state = 'pending' AND (kind = 'sla' OR (kind = 'step' "
        "AND (%(keep)s::timestamptz IS NULL OR due_at > %(keep)s)))",
        {"id": alert_id, "keep": keep_due_by})
    return cur.rowcount


def resolve_cutoff(now: datetime, received_at: datetime, ended_at: datetime | None) -> datetime:
    """Until when an alert counted as open, for the resolve rule (docs/router.md): when
    Alertmanager says it ended (``endsAt``), but never later than now (the resolve being
    processed) nor earlier than the router first saw it firing (its first step always
    fires: another host's clock must not cancel it)."""
    if ended_at is None:
        return now
    return min(now, max(ended_at, received_at))


async def _close(conn: AsyncConnection[Any], update: str, params: tuple[Any, ...], *,
                 alert_id: int, now: datetime, who: str, note: str | None, kind: str,
                 took_key: str, ended_at: datetime | None = None) -> Row | None:
    """Run the ack/resolve ``update``; if it changed the alert, cancel its pending steps
    (a resolve keeps those due while the alert was open) and SLA check and write the
    timeline event. Returns the updated alert, or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(update, params)
        row = await cur.fetchone()
    if row is None:
        return None
    keep = (resolve_cutoff(now, row["received_at"], ended_at) if kind == "resolved"
            else None)
    cancelled = await _cancel(conn, alert_id, keep)
    took = (now - row["received_at"]).total_seconds()
    await event(conn, now, kind, alert_id=alert_id, actor=who,
                detail={"note": note, took_key: took,
                        "within_response_time": now <= row["response_deadline"],
                        "cancelled_steps": cancelled})
    return row


async def ack(conn: AsyncConnection[Any], alert_id: int, now: datetime, who: str,
              note: str | None) -> Row | None:
    """Ack an open alert: pending steps and the SLA check stop; notices still go out.
    Returns the updated alert, or None if it was not open."""
    return await _close(
        conn, "UPDATE vigil_router.alerts SET status = 'acked', acked_at = %s, acked_by = %s, "
        f"ack_note = %s WHERE id = %s AND status = 'open' RETURNING {ALERT_COLUMNS}",
        (now, who, note, alert_id), alert_id=alert_id, now=now, who=who, note=note,
        kind="acked", took_key="time_to_ack_seconds")


async def resolve(conn: AsyncConnection[Any], matrix: Matrix, alert_id: int, now: datetime,
                  who: str, *, note: str | None = None, public_url: str = "",
                  ended_at: datetime | None = None) -> Row | None:
    """Resolve an alert: escalation ends, but steps that fell due while it was open (by
    ``ended_at``, Alertmanager's endsAt, or now) still fire; notices already planned still
    go out (the Legal notice for P1 goes out whatever happens); everyone notified hears of
    the resolve, after their last page."""
    row = await _close(
        conn, "UPDATE vigil_router.alerts SET status = 'resolved', resolved_at = %s, "
        f"resolved_by = %s WHERE id = %s AND status <> 'resolved' RETURNING {ALERT_COLUMNS}",
        (now, who, alert_id), alert_id=alert_id, now=now, who=who, note=note,
        kind="resolved", took_key="time_to_resolve_seconds", ended_at=ended_at)
    if row is None:
        return None
    if matrix.notify_on_resolve(row["severity"]):
        cur = await conn.execute(
            "SELECT max(due_at) FROM vigil_router.steps WHERE alert_id = %s "
            "AND state = 'pending' AND kind IN ('step', 'notice')", (alert_id,))
        last = await cur.fetchone()
        if last and last[0] is not None:
            # Pages or notices still to fire: the engine writes the resolve notices once
            # they have (a 'resolve' plan row), so nobody hears "resolved" before the page.
            await conn.execute(
                "INSERT INTO vigil_router.steps (alert_id, kind, step_no, due_at, targets) "
                "VALUES (%s, 'resolve', 0, %s, '{}')", (alert_id, max(now, last[0])))
            return row
        cur2 = await conn.execute(
            "SELECT DISTINCT target FROM vigil_router.outbox WHERE alert_id = %s "
            "AND kind IN ('escalation', 'notice') ORDER BY target", (alert_id,))
        targets = [r[0] for r in await cur2.fetchall()]
        await enqueue(conn, matrix, now, [
            (idempotency_key(f"a{alert_id}", "resolved", t), row, "alert", "resolved", t, {})
            for t in targets], public_url)
    return row


def incident_summary(i: Row) -> dict[str, Any]:
    return {"id": i["id"], "type": i["type"], "severity": i["severity"],
            "description": i["description"], "status": i["status"]}


async def timeline(conn: AsyncConnection[Any], *, alert_id: int | None = None,
                   incident_id: int | None = None) -> list[Row]:
    column = "alert_id" if alert_id is not None else "incident_id"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT id, at, kind, actor, detail FROM vigil_router.events WHERE {column} = %s "
            "ORDER BY id", (alert_id if alert_id is not None else incident_id,))
        return await cur.fetchall()
