"""Acknowledge from the notification: signed, bound, single-use, short-lived links.

Every escalation page leaving the outbox carries ``ack_url``: ``/console/ack/<token>``, the
token signed with ``console.secret`` over (alert, step, recipient, expiry), the expiry
``console.ack_link_ttl`` after the page was written (the same link on every retry of it).

Opening the link (GET) only shows what it would acknowledge and a button: mail scanners and
link previews open every link, so GET changes nothing and records nothing. The POST
acknowledges, once: the token's hash goes into ``vigil_router.ack_link_uses`` in the same
transaction as the ack. An expired link, one already used, or one whose recipient was not
paged by that step is refused, and the refusal is recorded on the alert's timeline. A link
whose signature does not hold names nothing we can trust: refused, not recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from router import store
from router.config import Console
from router.console import tokens
from router.console.explain import step_reason, who
from router.console.render import h, hidden_csrf, level, page, pairs
from router.console.session import checked_form, console_config, csrf_for, finish, visitor
from router.keys import CLOCK, MATRIX, METRICS, POOL

NOTE_REQUIRED = ("P1", "P2")


def decorate(cfg: Console, public_url: str) -> Any:
    """The outbox sender's hook: the payload to send for a claimed row, with an ack link on
    escalation pages (notices and resolve notices ask nothing of their reader)."""
    def add_link(row: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = row["payload"]
        alert = payload.get("alert")
        if payload.get("kind") != "escalation" or not isinstance(alert, dict) \
                or not row.get("alert_id") or row.get("created_at") is None:
            return payload
        expires: datetime = row["created_at"] + timedelta(seconds=cfg.ack_link_ttl)
        token = tokens.new_ack_link(str(cfg.secret), int(row["alert_id"]),
                                    int(payload.get("step") or 0), str(row["target"]),
                                    expires.timestamp())
        return {**payload, "ack_url": f"{public_url.rstrip('/')}/console/ack/{token}",
                "ack_expires_at": expires.isoformat()}
    return add_link


def _problem(link: tokens.AckLink, now: datetime, alert: dict[str, Any] | None,
             paged: bool, used: bool) -> str | None:
    """Why this link can't acknowledge, or None. Checked in this order on GET and POST."""
    if alert is None:
        return "no such alert"
    if now.timestamp() >= link.expires:
        return "expired"
    if not paged:
        return "wrong recipient"
    if used:
        return "replayed"
    return None


async def _state(conn: Any, link: tokens.AckLink, digest: str) -> tuple[
        dict[str, Any] | None, bool, bool]:
    """The alert, whether the link's step paged its recipient, whether it was used."""
    alert = await store.get_alert(conn, link.alert_id)
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM vigil_router.outbox WHERE alert_id = %s AND "
        "kind = 'escalation' AND target = %s AND idempotency_key = "
        "vigil_router.notification_key('a' || %s, 'step' || %s, %s)), "
        "EXISTS (SELECT 1 FROM vigil_router.ack_link_uses WHERE token_sha256 = %s)",
        (link.alert_id, link.target, link.alert_id, link.step, link.target, digest))
    row = await cur.fetchone()
    paged, used = (bool(row[0]), bool(row[1])) if row else (False, False)
    return alert, paged, used


def _link(request: web.Request) -> tokens.AckLink:
    link = tokens.read_ack_link(str(console_config(request).secret),
                                request.match_info["token"])
    if link is None:
        raise web.HTTPForbidden(
            text=page("Link refused", "<p>This acknowledgement link is not valid.</p>",
                      status=403).text, content_type="text/html")
    return link


async def confirm(request: web.Request) -> web.StreamResponse:
    """GET: what the link would acknowledge, and the button. Changes nothing."""
    link = _link(request)
    v = await visitor(request, anon=True, ignore_session=True)
    now = request.app[CLOCK].now()
    async with request.app[POOL].connection() as conn:
        alert, paged, used = await _state(conn, link,
                                          tokens.digest(request.match_info["token"]))
    problem = _problem(link, now, alert, paged, used)
    if problem or alert is None:
        return finish(request, v, page("Link refused", "<p>" + h(
            f"This acknowledgement link can't be used: {problem}.") + "</p>", status=403))
    cfg, matrix = console_config(request), request.app[MATRIX]
    need = alert["severity"] in NOTE_REQUIRED
    body = (f'<dl><dt>alert</dt><dd>{h(alert["alertname"])} {level(alert["severity"])}</dd>'
            f'<dt>status</dt><dd id="status">{h(alert["status"])}</dd>'
            f'<dt>paged</dt><dd>{who(matrix, [link.target])}: '
            f'{h(step_reason(matrix, alert["severity"], link.step))}</dd>'
            f'<dt>labels</dt><dd>{pairs(alert["labels"], cfg.show_labels)}</dd></dl>')
    if alert["status"] == "open":
        body += (f'<form method="post" id="ack-link-form">{hidden_csrf(csrf_for(request, v))}'
                 f'<label>Note{" (required for " + h(alert["severity"]) + ")" if need else ""}'
                 f' <input name="note" id="ack-note"{" required" if need else ""}></label>'
                 '<button type="submit" id="ack-button">Acknowledge</button></form>')
    else:
        body += "<p>" + h(f"Already {alert['status']}: nothing to do.") + "</p>"
    return finish(request, v, page("Acknowledge alert?", body))


async def acknowledge(request: web.Request) -> web.StreamResponse:
    """POST: acknowledge once, as the recipient the link was sent to."""
    link = _link(request)
    v = await visitor(request, anon=True, ignore_session=True)
    form = await checked_form(request, v)
    app, now = request.app, request.app[CLOCK].now()
    note = form.get("note", "").strip() or None
    actor = f"{link.target} (ack link)"
    digest = tokens.digest(request.match_info["token"])
    row = None
    async with app[POOL].connection() as conn, conn.transaction():
        alert, paged, used = await _state(conn, link, digest)
        problem = _problem(link, now, alert, paged, used)
        if problem is None and alert is not None:
            if note is None and alert["severity"] in NOTE_REQUIRED:
                return page("Note required", "<p>" + h(
                    f"note: required to acknowledge a {alert['severity']} alert; go back "
                    "and add one.") + "</p>", status=400)
            # The primary key makes "once" hold under concurrent POSTs of the same link.
            cur = await conn.execute(
                "INSERT INTO vigil_router.ack_link_uses (token_sha256, alert_id, step_no, "
                "target, used_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (digest, link.alert_id, link.step, link.target, now))
            if cur.rowcount == 0:
                problem = "replayed"
            else:
                row = await store.ack(conn, link.alert_id, now, actor, note, extra={
                    "via": "ack-link", "step": link.step, "target": link.target})
        if problem is not None and alert is not None:
            # Once per (alert, reason, step, recipient): a used or expired link sits in
            # forwarded mail, and replaying it in a loop must not bury the alert's timeline.
            detail = {"reason": problem, "step": link.step, "target": link.target}
            seen = await conn.execute(
                "SELECT 1 FROM vigil_router.events WHERE alert_id = %s "
                "AND kind = 'ack_link_refused' AND detail = %s", (link.alert_id, Jsonb(detail)))
            if await seen.fetchone() is None:
                await store.event(conn, now, "ack_link_refused", alert_id=link.alert_id,
                                  actor=actor, detail=detail)
    if problem is not None:
        return page("Link refused", "<p>" + h(
            f"This acknowledgement link can't be used: {problem}.") + "</p>", status=403)
    if row is None:
        return page("Not changed", "<p>The alert was acknowledged or resolved already.</p>",
                    status=409)
    app[METRICS].time_to_ack.labels(row["severity"]).observe(
        (now - row["received_at"]).total_seconds())
    return page("Acknowledged", "<p>" + h(
        f"Acknowledged {row['alertname']} ({row['severity']}) as {link.target}: "
        "escalation stopped.") + "</p>")


def setup_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/ack/{{token}}", confirm)
    app.router.add_post(f"{prefix}/ack/{{token}}", acknowledge)
