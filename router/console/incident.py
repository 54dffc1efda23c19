"""An incident's page: its alerts, its containment actions, its timeline, and the approval of
a pending containment by a logged-in responder.

Containment itself runs from the CLI against the monitored database (``vigil incident
contain``, vigil/contain/); the router holds the gate (escalation.yml
``containment_approvals``). Approving here goes through the same function as the API
(``approve_as`` in router/containment/store.py), with one difference that is the point: the
approver is the session's user, never a form field, and the timeline says ``via console``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router import store
from router.console.explain import event_text
from router.console.pages import incident_next, query_rows, render_page
from router.console.render import h, hidden_csrf, level, table, when
from router.console.session import Visitor, checked_form, csrf_for, require
from router.containment import store as containment
from router.http import path_int
from router.keys import CLOCK, MATRIX, POOL

_INCIDENT = ("SELECT id, type, severity, status, created_at, created_by, responded_at, "
             "responded_by, ARRAY(SELECT alert_id FROM vigil_router.incident_alerts ia WHERE "
             "ia.incident_id = i.id ORDER BY alert_id) AS alert_ids "
             "FROM vigil_router.incidents i WHERE id = %s")


async def incident_page(request: web.Request) -> web.Response:
    v = await require(request)
    return await _render(request, v, path_int(request, "id"))


async def _render(request: web.Request, v: Visitor, incident_id: int, error: str = "",
                  status: int = 200) -> web.Response:
    rows = await query_rows(request, _INCIDENT, (incident_id,))
    if not rows:
        return render_page(request, v, "No such incident", "<p>No such incident.</p>", 404)
    i = rows[0]
    async with request.app[POOL].connection() as conn:
        events = await store.timeline(conn, incident_id=incident_id)
        actions = await containment.listing(conn, incident_id)
    matrix, now = request.app[MATRIX], request.app[CLOCK].now()
    contained = table(["action", "database", "state", "requested", "approved by",
                       "contained", "released"],
                      [[h(f"{c['kind']} {c['target']}"), h(c["database"]), h(c["state"]),
                        h(f"{c['requested_by']} {when(c['requested_at'])}"),
                        h(", ".join(c["approved_by"]) or "-"),
                        h(f"{c['contained_by'] or ''} {when(c['contained_at'])}".strip()),
                        h(f"{c['released_by'] or ''} {when(c['released_at'])}".strip())]
                       for c in actions], "no containment actions (vigil incident contain)")
    links = " ".join(f'<a href="/console/alerts/{int(a)}">alert {int(a)}</a>'
                     for a in i["alert_ids"])
    err = f'<p class="error" id="containment-error">{h(error)}</p>' if error else ""
    body = (f'<dl><dt>level</dt><dd>{level(i["severity"])}</dd>'
            f'<dt>status</dt><dd>{h(i["status"])}</dd>'
            f'<dt>created</dt><dd>{h(when(i["created_at"]))} by {h(i["created_by"])}</dd>'
            f'<dt>response</dt><dd>{incident_next(request.app, i, now)}</dd>'
            f"<dt>alerts</dt><dd>{links or 'none'}</dd></dl><h3>Containment</h3>{err}"
            + _pending(request, v, incident_id, actions)
            + ("<h4>All actions</h4>" if actions else "") + contained
            + '<h3>Timeline</h3><div id="timeline">'
            + table(["at", "event", "by", "what and why"],
                    [[h(when(e["at"])), h(e["kind"]), h(e["actor"] or ""),
                      event_text(matrix, i["severity"], e["kind"], e["detail"] or {})]
                     for e in events]) + "</div>")
    return render_page(request, v, f"Incident {incident_id}: {i['type']}", body, status)


def _pending(request: web.Request, v: Visitor, incident_id: int,
             actions: list[dict[str, Any]]) -> str:
    """The requests waiting for approval, each with an Approve button for a responder who may
    give it (a read-only user gets none; neither does the requester, whose POST is refused
    anyway, nor someone who approved it already)."""
    waiting = [c for c in actions if c["state"] == "awaiting_approval"]
    if not waiting:
        return ""
    user = v.session.user if v.session else None
    csrf = hidden_csrf(csrf_for(request, v))
    rows = []
    for c in waiting:
        if not v.responder:
            act = "a responder approves"
        elif c["requested_by"] == user:
            act = "your request: another responder approves"
        elif user in c["approved_by"]:
            act = "approved by you"
        else:
            act = (f'<form method="post" class="act" id="approve-form-{int(c["id"])}" '
                   f'action="/console/incidents/{incident_id}/containments/{int(c["id"])}'
                   f'/approve">{csrf}<button type="submit" id="approve-{int(c["id"])}">'
                   "Approve</button></form>")
        rows.append([h(c["kind"]), h(c["target"]), h(c["database"]), h(c["requested_by"]),
                     h(when(c["requested_at"])),
                     h(f"{len(c['approved_by'])} of {c['approvals_needed']}"
                       + (f" ({', '.join(c['approved_by'])})" if c["approved_by"] else "")),
                     act])
    return ('<div id="pending-containments"><h4>Awaiting approval</h4>'
            + table(["kind", "target", "database", "requested by", "when", "approvals",
                     ""], rows) + "</div>")


async def approve(request: web.Request) -> web.Response:
    """A responder approves a pending containment as themselves (the session's user)."""
    v = await require(request, responder=True)
    await checked_form(request, v)
    assert v.session is not None
    incident_id, cid = path_int(request, "id"), path_int(request, "cid")
    try:
        async with request.app[POOL].connection() as conn, conn.transaction():
            await containment.approve_as(conn, request.app[CLOCK].now(), incident_id, cid,
                                         v.session.user, via="console")
    except containment.Refused as exc:
        text = (f"Not approved: you ({v.session.user}) requested this containment; a "
                "responder other than the requester must approve it."
                if exc.field == "who" else f"Not approved: {exc}.")
        return await _render(request, v, incident_id, text, exc.status)
    raise web.HTTPSeeOther(f"/console/incidents/{incident_id}")


def setup_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/incidents/{{id}}", incident_page)
    app.router.add_post(f"{prefix}/incidents/{{id}}/containments/{{cid}}/approve", approve)
