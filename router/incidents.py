"""Incidents: the runbook's ``incident:create`` and ``incident:respond`` as an API.

Creating an incident records it (and links alerts); responding initiates the
response: it notifies the first-step and notice targets of the incident's
level through the outbox, once per target (idempotency key per incident).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from psycopg.rows import dict_row

from router import identity, sql, store
from router.config import LEVELS
from router.http import error, json_body, path_int, reply
from router.keys import CLOCK, MATRIX, POOL
from router.oncall import routing
from router.validate import is_id

_RESPOND = sql.load("respond")
_INCIDENTS = sql.load("incidents")


async def get_incident(conn: Any, incident_id: int) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_INCIDENTS, {"id": incident_id, "statuses": None, "limit": 1})
        row: dict[str, Any] | None = await cur.fetchone()
        return row


def _id(request: web.Request) -> int:
    return path_int(request, "id")


async def create(request: web.Request) -> web.Response:
    doc = await json_body(request)
    if (refused := identity.claim(request, doc, "created_by")) is not None:
        return refused
    for field in ("type", "severity", "description"):
        if not isinstance(doc.get(field), str) or not doc[field].strip():
            return error(400, f"{field}: required non-empty string", field)
    if doc["severity"] not in LEVELS:
        return error(400, "severity: use P1, P2, P3 or P4", "severity")
    alert_ids = doc.get("alert_ids") or []
    if not isinstance(alert_ids, list) or not all(is_id(a) for a in alert_ids):
        return error(400, "alert_ids: expected a list of integers", "alert_ids")
    who = doc.get("created_by") if isinstance(doc.get("created_by"), str) else "api"
    now = request.app[CLOCK].now()
    async with request.app[POOL].connection() as conn, conn.transaction():
        cur = await conn.execute(
            "INSERT INTO vigil_router.incidents (type, severity, description, created_at, "
            "created_by, status_changed_at, status_changed_by) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (doc["type"], doc["severity"], doc["description"], now, who, now, who))
        row = await cur.fetchone()
        assert row is not None
        incident_id = int(row[0])
        linked = sorted(set(alert_ids))
        # Locked in id order, as a resolve locks them: an alert resolved while this incident
        # is being created either is seen resolved below, or its resolve sees the link.
        cur = await conn.execute("SELECT id FROM vigil_router.alerts WHERE id = ANY(%s) "
                                 "ORDER BY id FOR UPDATE", (linked,))
        missing = set(linked) - {int(r[0]) for r in await cur.fetchall()}
        if missing:
            raise _bad(f"alert_ids: no alert {min(missing)}")
        for aid in linked:
            await conn.execute("INSERT INTO vigil_router.incident_alerts VALUES (%s, %s)",
                               (incident_id, aid))
            await store.event(conn, now, "linked_to_incident", alert_id=aid, actor=who,
                              detail={"incident_id": incident_id})
        await store.event(conn, now, "created", incident_id=incident_id, actor=who,
                          detail={"type": doc["type"], "severity": doc["severity"],
                                  "alert_ids": linked})
        if linked:   # linked alerts all resolved already: said now, as a resolve would
            await store.incidents_after_resolve(conn, linked, now)
        incident = await get_incident(conn, incident_id)
    return reply(incident, 201)


def _bad(message: str) -> web.HTTPBadRequest:
    import json
    return web.HTTPBadRequest(text=json.dumps({"error": message, "field": "alert_ids"}),
                              content_type="application/json")


async def get(request: web.Request) -> web.Response:
    async with request.app[POOL].connection() as conn:
        row = await get_incident(conn, _id(request))
    return reply(row) if row else error(404, "no such incident")


async def respond(request: web.Request) -> web.Response:
    doc = await json_body(request)
    if (refused := identity.claim(request, doc)) is not None:
        return refused
    who = doc.get("who")
    async with request.app[POOL].connection() as conn, conn.transaction():
        return await start_response(conn, request.app, _id(request),
                                    who if isinstance(who, str) else "api",
                                    via=identity.caller(request).via)


async def start_response(conn: Any, app: web.Application, incident_id: int, who: str,
                         note: str | None = None, *, via: str | None = None) -> web.Response:
    """open -> responding: notify the level's first-step and notice targets, once each. Also
    what ``status responding`` does from open (router/incident_api.py). The caller owns the
    transaction."""
    now = app[CLOCK].now()
    cur = await conn.execute(
        "UPDATE vigil_router.incidents SET status = 'responding', responded_at = %s, "
        "responded_by = %s, status_changed_at = %s, status_changed_by = %s "
        "WHERE id = %s AND status = 'open' RETURNING severity",
        (now, who, now, who, incident_id))
    row = await cur.fetchone()
    incident = await get_incident(conn, incident_id)
    if incident is None:
        return error(404, "no such incident")
    if row is None:
        return error(409, f"incident is {incident['status']}; response already initiated")
    level = app[MATRIX].esc.levels[incident["severity"]]
    targets = list(dict.fromkeys([*level.steps[0].targets,
                                  *(t for n in level.notices for t in n.targets)]))
    # A schedule target reaches whoever is on call now (router/oncall/routing.py).
    matrix = app[MATRIX]
    resolved = routing.resolution(matrix.esc, matrix.oncall, now)
    await conn.execute(_RESPOND, {"now": now, "id": incident_id,
                                  "targets": routing.expand(targets, resolved),
                                  "channels": store.channels(matrix)})
    detail: dict[str, Any] = {"notified": targets}
    if oncall := {t: {k: v for k, v in r.items() if k != "deliver"}
                  for t, r in resolved.items() if t in targets}:
        detail["oncall"] = oncall
    await store.event(conn, now, "status_changed", incident_id=incident_id, actor=who,
                      detail={"from": "open", "to": "responding", "note": note,
                              **({"via": via} if via else {})})
    await store.event(conn, now, "response_initiated", incident_id=incident_id, actor=who,
                      detail=detail)
    return reply(await get_incident(conn, incident_id))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/incidents", create)
    app.router.add_get("/api/v1/incidents/{id}", get)
    app.router.add_post("/api/v1/incidents/{id}/respond", respond)
