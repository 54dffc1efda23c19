"""The incident lifecycle as an API: list, notes, status changes and the full timeline.

An incident moves open -> responding -> contained -> resolved -> closed. Each move is a
``status_changed`` event with who and when (and the row keeps the latest); a move the
lifecycle doesn't allow is refused with 409 naming the allowed ones; asking for the status it
has already is a no-op (200, no event), so a script can't race the router's own resolve.
open -> responding is the response itself (router/incidents.py ``start_response``: the
level's responders are notified). When all of an incident's alerts resolve, the router
records it and moves a responding or contained incident to resolved (router/store.py
``incidents_after_resolve``). The timeline holds the incident's events and every event of
its linked alerts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from psycopg.rows import dict_row

from router import identity, incidents, sql, store
from router.http import error, json_body, path_int, reply
from router.keys import CLOCK, POOL

STATUSES = ("open", "responding", "contained", "resolved", "closed")
# Forward through the lifecycle; containment may be skipped (nothing to contain), may fail
# (back to responding), and a resolved incident may recur (back to responding). Closed is final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("responding",),
    "responding": ("contained", "resolved"),
    "contained": ("resolved", "responding"),
    "resolved": ("closed", "responding"),
    "closed": (),
}
ACTIVE = ("open", "responding", "contained")   # ``status=active``: not resolved or closed
MAX_LIMIT = 1000
MAX_NOTE = 4000
_LIST = sql.load("incidents")
_TIMELINE = sql.load("incident_timeline")


def _who(doc: dict[str, Any]) -> str | web.Response:
    who = doc.get("who", "api")
    if not isinstance(who, str) or not who.strip() or len(who) > 200:
        return error(400, "who: expected a non-empty string of at most 200 characters", "who")
    return who


def _note(doc: dict[str, Any], required: bool) -> str | web.Response | None:
    note = doc.get("note")
    if note is None and not required:
        return None
    if not isinstance(note, str) or not note.strip() or len(note) > MAX_NOTE:
        return error(400, f"note: expected a non-empty string of at most {MAX_NOTE} "
                          "characters", "note")
    return note


async def list_incidents(request: web.Request) -> web.Response:
    q = request.query
    status = q.get("status") or None
    if status and status not in (*STATUSES, "active"):
        return error(400, f"status: use {', '.join(STATUSES)} or active", "status")
    statuses = list(ACTIVE) if status == "active" else [status] if status else None
    try:
        limit = int(q.get("limit", "100"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        return error(400, f"limit: expected an integer from 1 to {MAX_LIMIT}", "limit")
    async with request.app[POOL].connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LIST, {"id": None, "statuses": statuses, "limit": limit})
        rows = await cur.fetchall()
    return reply({"incidents": rows})


async def add_note(request: web.Request) -> web.Response:
    """Log the initial response, or any later finding: a ``note`` event with who and when."""
    incident_id = path_int(request, "id")
    doc = await json_body(request)
    if (refused := identity.claim(request, doc)) is not None:
        return refused
    who, note = _who(doc), _note(doc, required=True)
    for bad in (who, note):
        if isinstance(bad, web.Response):
            return bad
    now = request.app[CLOCK].now()
    async with request.app[POOL].connection() as conn, conn.transaction():
        incident = await incidents.get_incident(conn, incident_id)
        if incident is None:
            return error(404, "no such incident")
        await store.event(conn, now, "note", incident_id=incident_id, actor=str(who),
                          detail={"note": note, "status": incident["status"],
                                  "via": identity.caller(request).via})
    return reply({"incident_id": incident_id, "at": now, "who": who, "note": note,
                  "status": incident["status"]}, 201)


async def change_status(request: web.Request) -> web.Response:
    incident_id = path_int(request, "id")
    doc = await json_body(request)
    target = doc.get("status")
    if (refused := identity.claim(request, doc)) is not None:
        return refused
    if target not in STATUSES:
        return error(400, f"status: use one of {', '.join(STATUSES)}", "status")
    who, note = _who(doc), _note(doc, required=False)
    for bad in (who, note):
        if isinstance(bad, web.Response):
            return bad
    async with request.app[POOL].connection() as conn, conn.transaction():
        return await move(conn, request.app, incident_id, str(target), str(who),
                          note=note if isinstance(note, str) else None,
                          via=identity.caller(request).via)


async def move(conn: Any, app: web.Application, incident_id: int, target: str, who: str,
               *, note: str | None = None, via: str | None = None) -> web.Response:
    """Move the incident to ``target`` if the lifecycle allows it from where it is (409
    naming the allowed moves if not): the one way a status changes, for this API and any
    action that implies a move (containing an incident, say). The caller owns the
    transaction. ``via``: how the mover was authenticated, for the timeline (API calls)."""
    cur = await conn.execute("SELECT status FROM vigil_router.incidents WHERE id = %s "
                             "FOR UPDATE", (incident_id,))
    row = await cur.fetchone()
    if row is None:
        return error(404, "no such incident")
    current = str(row[0])
    if target == current:   # already there (the router may have resolved it): nothing to do
        return reply(await incidents.get_incident(conn, incident_id))
    allowed = TRANSITIONS[current]
    if target not in allowed:
        return error(409, f"incident is {current}; it can move to "
                          f"{' or '.join(allowed) if allowed else 'nothing (closed is final)'}"
                          f", not {target}", "status")
    if current == "open":   # the response itself: notifies the responders
        return await incidents.start_response(conn, app, incident_id, who, note, via=via)
    now = app[CLOCK].now()
    await conn.execute("UPDATE vigil_router.incidents SET status = %s, status_changed_at = %s, "
                       "status_changed_by = %s WHERE id = %s", (target, now, who, incident_id))
    await store.event(conn, now, "status_changed", incident_id=incident_id, actor=who,
                      detail={"from": current, "to": target, "note": note,
                              **({"via": via} if via else {})})
    return reply(await incidents.get_incident(conn, incident_id))


async def timeline(request: web.Request) -> web.Response:
    incident_id = path_int(request, "id")
    async with request.app[POOL].connection() as conn:
        incident = await incidents.get_incident(conn, incident_id)
        if incident is None:
            return error(404, "no such incident")
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_TIMELINE, {"id": incident_id})
            events = await cur.fetchall()
    return reply({"incident_id": incident_id, "status": incident["status"],
                  "alert_ids": incident["alert_ids"], "events": events})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/incidents", list_incidents)
    app.router.add_post("/api/v1/incidents/{id}/notes", add_note)
    app.router.add_post("/api/v1/incidents/{id}/status", change_status)
    app.router.add_get("/api/v1/incidents/{id}/timeline", timeline)
