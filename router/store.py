"""The router's state: alerts, plan rows, outbox rows, the timeline, incidents.

The longer statements are files in router/sql/. Every function takes an open connection
and the router clock's ``now``; the caller owns the transaction, so one request or one
engine tick is one commit.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from router import sql
from router.matrix import Matrix
from router.oncall import routing

Row = dict[str, Any]

_GET = sql.load("get_alert")
_ACK = sql.load("ack")
_RESOLVE = sql.load("resolve")
_INCIDENTS_DONE = sql.load("incidents_alerts_resolved")


async def event(conn: AsyncConnection[Any], now: datetime, kind: str, *,
                alert_id: int | None = None, incident_id: int | None = None,
                actor: str | None = None, detail: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO vigil_router.events (alert_id, incident_id, at, kind, actor, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (alert_id, incident_id, now, kind, actor, Jsonb(detail or {})))


def channels(matrix: Matrix) -> str:
    """The statements' ``channels`` parameter: delivery target -> channel, as JSON (the
    people of oncall.yml included: a resolve notice goes to whoever was paged)."""
    return json.dumps(routing.channels(matrix.esc, matrix.oncall))


async def get_alert(conn: AsyncConnection[Any], alert_id: int) -> Row | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_GET, {"id": alert_id})
        return await cur.fetchone()


async def ack(conn: AsyncConnection[Any], alert_id: int, now: datetime, who: str,
              note: str | None, *, extra: dict[str, Any] | None = None) -> Row | None:
    """Ack an open alert: pending steps and the SLA check stop; notices still go out.
    ``extra`` goes into the timeline row (how: the console's ack link says which link).
    Returns the updated alert, or None if it was not open."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_ACK, {"now": now, "who": who, "note": note, "id": alert_id})
        row = await cur.fetchone()
    if row is None:
        return None
    cur2 = await conn.execute(
        "UPDATE vigil_router.steps SET state = 'cancelled' "
        "WHERE alert_id = %s AND state = 'pending' AND kind IN ('step', 'sla')", (alert_id,))
    await event(conn, now, "acked", alert_id=alert_id, actor=who,
                detail={"note": note,
                        "time_to_ack_seconds": (now - row["received_at"]).total_seconds(),
                        "within_response_time": now <= row["response_deadline"],
                        "cancelled_steps": cur2.rowcount, **(extra or {})})
    return row


async def resolve_many(conn: AsyncConnection[Any], matrix: Matrix, alerts: str,
                       now: datetime, who: str, *, note: str | None = None,
                       public_url: str = "") -> list[Row]:
    """Resolve the alerts not resolved yet among ``alerts`` (JSON: ``[{id, ended, stale,
    detail}]``, router/sql/resolve.sql): the only way an alert is resolved once open.
    Returns the alerts it resolved."""
    notify = [lv for lv in matrix.esc.levels if matrix.notify_on_resolve(lv)]
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_RESOLVE, {
            "now": now, "who": who, "note": note, "public_url": public_url,
            "channels": channels(matrix), "notify_levels": notify, "alerts": alerts})
        rows = await cur.fetchall()
    if rows:
        await incidents_after_resolve(conn, [int(r["id"]) for r in rows], now)
    return rows


async def incidents_after_resolve(conn: AsyncConnection[Any], alert_ids: list[int],
                                  now: datetime) -> None:
    """The incidents whose alerts are now all resolved: recorded, and moved to resolved when
    someone was responding (router/sql/incidents_alerts_resolved.sql). The incidents are
    locked first, in id order, so the last two alerts resolved concurrently can't both see
    the other one still open."""
    cur = await conn.execute(
        "SELECT id FROM vigil_router.incidents WHERE status <> 'closed' AND id IN ("
        "SELECT incident_id FROM vigil_router.incident_alerts WHERE alert_id = ANY(%s)) "
        "ORDER BY id FOR UPDATE", (alert_ids,))
    ids = [int(r[0]) for r in await cur.fetchall()]
    if ids:
        await conn.execute(_INCIDENTS_DONE, {"ids": ids, "now": now})


async def resolve(conn: AsyncConnection[Any], matrix: Matrix, alert_id: int, now: datetime,
                  who: str, *, note: str | None = None, public_url: str = "",
                  ended_at: datetime | None = None,
                  detail: dict[str, Any] | None = None) -> Row | None:
    """Resolve an alert: escalation ends, but steps that fell due while it was open (by
    ``ended_at``, Alertmanager's endsAt, or now) still fire; notices already planned still
    go out; everyone notified hears of the resolve, after their last page. Returns the
    updated alert, or None if it was resolved already. ``detail`` goes into the timeline's
    'resolved' event (``via``: how the resolver was authenticated)."""
    alerts = json.dumps([{"id": alert_id, "ended": ended_at.isoformat() if ended_at else None,
                          "detail": detail}])
    rows = await resolve_many(conn, matrix, alerts, now, who, note=note, public_url=public_url)
    return rows[0] if rows else None


async def timeline(conn: AsyncConnection[Any], *, alert_id: int | None = None,
                   incident_id: int | None = None) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, at, kind, actor, detail FROM vigil_router.events "
            "WHERE alert_id = %(alert)s OR incident_id = %(incident)s ORDER BY id",
            {"alert": alert_id, "incident": incident_id})
        return await cur.fetchall()
