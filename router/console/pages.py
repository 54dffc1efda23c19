"""The console's pages: open alerts and incidents, one alert's timeline, acknowledge and
resolve, and the history search (an incident's page: router/console/incident.py).

Acknowledge and resolve go through the same store functions as the API (router/store.py),
so the timeline, the cancelled steps and the resolve notices are the same whichever way a
responder acts; the console adds the rule that P1 and P2 need a note.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from psycopg.rows import dict_row

from router import sql, store
from router.console import oncall
from router.console.explain import event_text, step_reason, who
from router.console.render import countdown, h, hidden_csrf, level, page, pairs, table, when
from router.console.session import Visitor, checked_form, console_config, csrf_for, require
from router.http import path_int
from router.keys import CLOCK, CONFIG, MATRIX, METRICS, POOL

_OPEN = sql.load("console_open")
NOTE_REQUIRED = ("P1", "P2")


async def query_rows(request: web.Request, query: str,
                     params: Any = None) -> list[dict[str, Any]]:
    async with request.app[POOL].connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows: list[dict[str, Any]] = await cur.fetchall()
        return rows


def render_page(request: web.Request, v: Visitor, title: str, body: str,
            status: int = 200) -> web.Response:
    return page(title, body, session=v.session, csrf=csrf_for(request, v),
                now=request.app[CLOCK].now(), status=status)


async def index(request: web.Request) -> web.Response:
    v = await require(request)
    app, now = request.app, request.app[CLOCK].now()
    cfg, matrix = console_config(request), app[MATRIX]
    alerts = await query_rows(request, _OPEN)
    incidents = await query_rows(
        request, "SELECT id, type, severity, status, created_at, created_by FROM "
        "vigil_router.incidents WHERE status NOT IN ('closed', 'resolved') "
        "ORDER BY severity, id DESC LIMIT 200")
    parts = [oncall.panel(app, now)]
    for sev in matrix.esc.levels:
        mine = [a for a in alerts if a["severity"] == sev]
        rows = []
        for a in mine:
            if a["status"] == "acked":
                nxt = h(f"acknowledged by {a['acked_by']}: escalation stopped")
            elif a["next_due"] is not None:
                nxt = (f"step {h(a['next_step'])} {countdown(a['next_due'], now)} pages "
                       f"{who(matrix, a['next_targets'], a['next_due'])}")
            else:
                nxt = "no further step"
            rows.append([f'<a href="/console/alerts/{a["id"]}">{h(a["alertname"])}</a>',
                         h(a["status"]) + (' <b class="breach">SLA breached</b>'
                                           if a["sla_breached"] else ""),
                         h(when(a["received_at"])), nxt,
                         pairs(a["labels"], cfg.show_labels)])
        incs = [[f'<a href="/console/incidents/{i["id"]}">{h(i["type"])}</a>', h(i["status"]),
                 h(when(i["created_at"])), incident_next(app, i, now)]
                for i in incidents if i["severity"] == sev]
        parts.append(f'<section class="level-{h(sev.lower())}"><h3>{level(sev)} '
                     f'{h(matrix.esc.levels[sev].description)}</h3>'
                     + table(["alert", "status", "received", "next escalation", "labels"],
                             rows, f"no open {sev} alerts")
                     + (table(["incident", "status", "created", "response"], incs)
                        if incs else "") + "</section>")
    return render_page(request, v, "Open alerts and incidents", "".join(parts))


def incident_next(app: web.Application, i: dict[str, Any], now: datetime) -> str:
    """An incident has no timed plan: its response (POST respond) pages the level's first
    step and notices; until then it shows the level's response deadline."""
    if i["status"] != "open":
        return h(f"response initiated ({i['status']})")
    matrix = app[MATRIX]
    lv = matrix.esc.levels[i["severity"]]
    due = i["created_at"] + timedelta(seconds=matrix.response_time(i["severity"]))
    targets = list(dict.fromkeys([*lv.steps[0].targets, *(t for n in lv.notices
                                                          for t in n.targets)]))
    return f"respond {countdown(due, now)}; responding pages {who(matrix, targets)}"


async def alert_page(request: web.Request) -> web.Response:
    v = await require(request)
    alert_id = path_int(request, "id")
    async with request.app[POOL].connection() as conn:
        alert = await store.get_alert(conn, alert_id)
        events = await store.timeline(conn, alert_id=alert_id) if alert else []
    if alert is None:
        return render_page(request, v, "No such alert", "<p>No such alert.</p>", 404)
    return render_page(request, v, f"Alert {alert_id}: {alert['alertname']}",
                   await _alert_body(request, v, alert, events))


async def _alert_body(request: web.Request, v: Visitor, a: dict[str, Any],
                      events: list[dict[str, Any]], error: str = "") -> str:
    cfg, matrix, now = console_config(request), request.app[MATRIX], request.app[CLOCK].now()
    plan = await query_rows(request, "SELECT kind, step_no, due_at, targets, state, fired_at "
                            "FROM vigil_router.steps WHERE alert_id = %s AND kind IN ('step', "
                            "'notice') ORDER BY due_at, id", (a["id"],))
    facts = (f'<dl><dt>level</dt><dd>{level(a["severity"])}</dd>'
             f'<dt>status</dt><dd id="status">{h(a["status"])}</dd>'
             f'<dt>received</dt><dd>{h(when(a["received_at"]))}</dd>'
             f'<dt>respond by</dt><dd>{h(when(a["response_deadline"]))}</dd>'
             f'<dt>labels</dt><dd>{pairs(a["labels"], cfg.show_labels)}</dd>'
             f'<dt>annotations</dt><dd>{pairs(a["annotations"], cfg.show_annotations)}</dd>'
             "</dl>")
    steps = [[h(f"{p['kind']} {p['step_no']}"),
              h(step_reason(matrix, a["severity"], p["step_no"])) if p["kind"] == "step"
              else "notice", who(matrix, p["targets"]),
              h(when(p["due_at"])) + (" " + countdown(p["due_at"], now)
                                      if p["state"] == "pending" else ""), h(p["state"])]
             for p in plan]
    timeline = [[h(when(e["at"])), h(e["kind"]), h(e["actor"] or ""),
                 event_text(matrix, a["severity"], e["kind"], e["detail"] or {})]
                for e in events]
    return (facts + _actions(request, v, a, error) + "<h3>Escalation plan</h3>"
            + table(["step", "why", "pages", "due", "state"], steps)
            + '<h3>Timeline</h3><div id="timeline">'
            + table(["at", "event", "by", "what and why"], timeline) + "</div>")


def _actions(request: web.Request, v: Visitor, a: dict[str, Any], error: str) -> str:
    """Ack and resolve forms, for responders only: a read-only user gets no button."""
    if not v.responder or a["status"] == "resolved":
        return ""
    need = a["severity"] in NOTE_REQUIRED
    req = " required" if need else ""
    label = f"Note{' (required for ' + a['severity'] + ')' if need else ''}"
    err = f'<p class="error">{h(error)}</p>' if error else ""
    csrf = hidden_csrf(csrf_for(request, v))
    forms = ""
    for action, text in (("ack", "Acknowledge"), ("resolve", "Resolve")):
        if action == "ack" and a["status"] != "open":
            continue
        forms += (f'<form method="post" action="/console/alerts/{a["id"]}/{action}" '
                  f'class="act" id="{action}-form">{csrf}<label>{h(label)} '
                  f'<input name="note" id="{action}-note"{req}></label>'
                  f'<button type="submit" id="{action}-button">{text}</button></form>')
    return f'<div class="actions">{err}{forms}</div>'


async def act(request: web.Request) -> web.Response:
    v = await require(request, responder=True)
    form = await checked_form(request, v)
    action = request.match_info["action"]
    alert_id = path_int(request, "id")
    assert v.session is not None
    note = form.get("note", "").strip() or None
    app, now = request.app, request.app[CLOCK].now()
    async with app[POOL].connection() as conn, conn.transaction():
        alert = await store.get_alert(conn, alert_id)
        if alert is None:
            return render_page(request, v, "No such alert", "<p>No such alert.</p>", 404)
        if note is None and alert["severity"] in NOTE_REQUIRED:
            events = await store.timeline(conn, alert_id=alert_id)
            body = await _alert_body(request, v, alert, events,
                                     f"note: required to {action} a {alert['severity']} alert")
            return render_page(request, v, f"Alert {alert_id}: {alert['alertname']}", body,
                               400)
        if action == "ack":
            row = await store.ack(conn, alert_id, now, v.session.user, note)
        else:
            row = await store.resolve(conn, app[MATRIX], alert_id, now, v.session.user,
                                      note=note, public_url=app[CONFIG].router.public_url)
    if row is None:
        return render_page(request, v, "Not changed", "<p>" + h(
            f"The alert is {alert['status']} already; nothing to {action}.") + "</p>", 409)
    if action == "ack":
        app[METRICS].time_to_ack.labels(row["severity"]).observe(
            (now - row["received_at"]).total_seconds())
    raise web.HTTPSeeOther(f"/console/alerts/{alert_id}")


def setup_routes(app: web.Application, prefix: str) -> None:
    from router.console import history
    r = app.router
    r.add_get(f"{prefix}/", index)
    r.add_get(f"{prefix}/alerts/{{id}}", alert_page)
    r.add_post(f"{prefix}/alerts/{{id}}/{{action:ack|resolve}}", act)
    r.add_get(f"{prefix}/history", history.history)
