"""The containments table (router migration 0006), its timeline events and the approval
gate, which the API (router/containment/routes.py) and the console
(router/console/incident.py) both go through: ``approve_as`` is the only way to approve."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from router import store

Row = dict[str, Any]
_COLUMNS = ("id, incident_id, database, kind, target, plan, requested_at, requested_by, "
            "approvals_needed, approved_by, contained_at, contained_by, verification, "
            "released_at, released_by, release_verification")


class Refused(Exception):
    """Why an action on a containment was refused: an HTTP status, a sentence a responder can
    act on, and the request field at fault, if one is."""

    def __init__(self, status: int, text: str, field: str | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.field = field


def shape(row: Row) -> Row:
    """The API's view: the row plus whether it may run and where it stands."""
    approved = len(row["approved_by"]) >= row["approvals_needed"]
    state = ("released" if row["released_at"] else "contained" if row["contained_at"]
             else "approved" if approved else "awaiting_approval")
    return {**row, "approved_by": list(row["approved_by"]), "approved": approved,
            "state": state}


async def incident_level(conn: AsyncConnection[Any], incident_id: int) -> str | None:
    cur = await conn.execute("SELECT severity FROM vigil_router.incidents WHERE id = %s",
                             (incident_id,))
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def listing(conn: AsyncConnection[Any], incident_id: int) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT " + _COLUMNS + " FROM vigil_router.containments "
                          "WHERE incident_id = %s ORDER BY id", (incident_id,))
        return [shape(r) for r in await cur.fetchall()]


async def get(conn: AsyncConnection[Any], incident_id: int, cid: int,
              lock: bool = False) -> Row | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT " + _COLUMNS + " FROM vigil_router.containments "
                          "WHERE incident_id = %s AND id = %s" + (" FOR UPDATE" if lock else ""),
                          (incident_id, cid))
        row = await cur.fetchone()
    return shape(row) if row else None


async def request(conn: AsyncConnection[Any], now: datetime, incident_id: int, doc: Row,
                  approvals: int) -> tuple[Row, bool]:
    """The active action on (database, kind, target), made if there is none: (row, new)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO vigil_router.containments (incident_id, database, kind, target, plan, "
            "requested_at, requested_by, approvals_needed) VALUES (%s, %s, %s, %s, %s, %s, %s, "
            "%s) ON CONFLICT (incident_id, database, kind, target) WHERE released_at IS NULL "
            "DO NOTHING RETURNING " + _COLUMNS,
            (incident_id, doc["database"], doc["kind"], doc["target"], Jsonb(doc["plan"]), now,
             doc["who"], approvals))
        row = await cur.fetchone()
        if row is None:
            await cur.execute(
                "SELECT " + _COLUMNS + " FROM vigil_router.containments WHERE incident_id = %s AND "
                "database = %s AND kind = %s AND target = %s AND released_at IS NULL",
                (incident_id, doc["database"], doc["kind"], doc["target"]))
            existing = await cur.fetchone()
            assert existing is not None
            return shape(existing), False
    await store.event(conn, now, "containment_requested", incident_id=incident_id,
                      actor=doc["who"], detail=_about(row, approvals_needed=approvals,
                                                      statements=len(doc["plan"]),
                                                      via=doc.get("via", "api")))
    return shape(row), True


async def active(conn: AsyncConnection[Any], incident_id: int, cid: int) -> Row:
    """Containment ``cid`` of the incident, locked until the transaction ends (two approvals
    at once count in turn); refused if there is none or it was released."""
    row = await get(conn, incident_id, cid, lock=True)
    if row is None:
        raise Refused(404, "no such containment on this incident")
    if row["released_at"] is not None:
        raise Refused(409, "this containment was released; request a new one")
    return row


async def approve_as(conn: AsyncConnection[Any], now: datetime, incident_id: int, cid: int,
                     who: str, *, via: str, named: str | None = None) -> Row:
    """``who`` approves containment ``cid``: never the requester; a second approval by the
    same person changes nothing. ``via`` says how ``who`` was established and lands on the
    timeline: ``console`` (a logged-in console user), ``api-token`` (a personal API token's
    user) or ``api`` (the name the caller gave with the shared token, e.g. ``vigil incident
    approve --who``: not verified). ``named``: the name a personal token's request body gave,
    refused unless it is ``who``, but only after the requester's own approval is refused."""
    row = await active(conn, incident_id, cid)
    if who == row["requested_by"]:
        raise Refused(409, "the approver must be a responder other than the requester", "who")
    if named is not None and named != who:
        raise Refused(403, f"this token is {who}'s; leave who out or give {who}", "who")
    if who in row["approved_by"]:
        return row
    await conn.execute("UPDATE vigil_router.containments SET approved_by = approved_by || %s "
                       "WHERE id = %s", ([who], row["id"]))
    await store.event(conn, now, "containment_approved", incident_id=incident_id, actor=who,
                      detail=_about(row, requested_by=row["requested_by"], via=via))
    fresh = await get(conn, incident_id, cid)
    assert fresh is not None
    return fresh


def _about(row: Row, **extra: Any) -> Row:
    return {"containment_id": row["id"], "database": row["database"], "kind": row["kind"],
            "target": row["target"], **extra}


# outcome -> (when, who, verification) columns, and the timeline event (verified, unverified)
OUTCOMES: dict[str, tuple[tuple[str, str, str], tuple[str, str]]] = {
    "contained": (("contained_at", "contained_by", "verification"),
                  ("contained", "containment_unverified")),
    "released": (("released_at", "released_by", "release_verification"),
                 ("released", "release_unverified")),
}


async def record_outcome(conn: AsyncConnection[Any], outcome: str, now: datetime, row: Row, *,
                         who: str | None, verification: Row) -> Row:
    """What the CLI reports after running (and verifying) a containment or its release."""
    columns, (verified, unverified) = OUTCOMES[outcome]
    stmt = sql.SQL("UPDATE vigil_router.containments SET {} = %s, {} = %s, {} = %s "
                   "WHERE id = %s").format(*map(sql.Identifier, columns))
    await conn.execute(stmt, (now, who, Jsonb(verification), row["id"]))
    await store.event(conn, now, verified if verification.get("ok") else unverified,
                      incident_id=row["incident_id"], actor=who,
                      detail=_about(row, verification=verification))
    fresh = await get(conn, row["incident_id"], row["id"])
    assert fresh is not None
    return fresh
