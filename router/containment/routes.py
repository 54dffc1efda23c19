"""``/api/v1/incidents/{id}/containments``: request, approve, record execution and release.

The CLI plans against the monitored database, asks here (request), runs the plan only once
the action is approved (a level's ``containment_approvals``, escalation.yml, by responders
other than the requester) and reports the verification back (contained, released). Each
step is an event on the incident's timeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from router import identity
from router.containment import store
from router.http import error, json_body, path_int, reply
from router.keys import CLOCK, CONFIG, POOL
from router.validate import text_problem

KINDS = ("role", "actor", "tenant")


def _text(doc: dict[str, Any], field: str, required: bool = True) -> str | web.Response:
    value = doc.get(field)
    if value is None and not required:
        return "api"
    if not isinstance(value, str) or not value.strip():
        return error(400, f"{field}: required non-empty string", field)
    problem = text_problem(value)
    return error(400, f"{field}: a value {problem}", field) if problem else value


def _verification(doc: dict[str, Any]) -> dict[str, Any] | web.Response:
    value = doc.get("verification")
    if not isinstance(value, dict) or not isinstance(value.get("ok"), bool):
        return error(400, "verification: expected an object with a boolean ok", "verification")
    return value


async def listing(request: web.Request) -> web.Response:
    incident_id = path_int(request, "id")
    async with request.app[POOL].connection() as conn:
        if await store.incident_level(conn, incident_id) is None:
            return error(404, "no such incident")
        rows = await store.listing(conn, incident_id)
    return reply({"incident_id": incident_id, "containments": rows})


async def create(request: web.Request) -> web.Response:
    incident_id = path_int(request, "id")
    doc = await json_body(request)
    clean: dict[str, Any] = {}
    for field in ("database", "kind", "target"):
        value = _text(doc, field)
        if isinstance(value, web.Response):
            return value
        clean[field] = value
    if clean["kind"] not in KINDS:
        return error(400, "kind: use role, actor or tenant", "kind")
    if (refused := identity.claim(request, doc)) is not None:
        return refused
    who = _text(doc, "who", required=False)
    if isinstance(who, web.Response):
        return who
    plan = doc.get("plan", [])
    if not isinstance(plan, list) or not all(isinstance(s, dict) for s in plan):
        return error(400, "plan: expected a list of {sql, effect} objects", "plan")
    clean.update(who=who, plan=plan, via=identity.caller(request).via)
    app = request.app
    async with app[POOL].connection() as conn, conn.transaction():
        level = await store.incident_level(conn, incident_id)
        if level is None:
            return error(404, "no such incident")
        approvals = app[CONFIG].escalation.levels[level].approvals(level)
        row, new = await store.request(conn, app[CLOCK].now(), incident_id, clean, approvals)
    return reply(row, 201 if new else 200)


def _refusal(exc: store.Refused) -> web.Response:
    return error(exc.status, f"{exc.field}: {exc}" if exc.field else str(exc), exc.field)


def _action(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """POST .../approve (a second responder: with a personal token, its user, ``via:
    api-token``; with the shared token, whoever ``who`` names, ``via: api``, since that token
    says only that the caller may use the API; the console's approval names its logged-in
    user), .../contained and .../released (the CLI reports what ran and how it verified)."""

    async def handler(request: web.Request) -> web.Response:
        doc = await json_body(request)
        me = identity.caller(request)
        # An approver's ``who`` is checked by approve_as, after the self-approval refusal:
        # a requester approving with their own token hears that (409), whatever who says.
        named = doc.pop("who", None) if me.user and name == "approve" else None
        if (refused := identity.claim(request, doc)) is not None:
            return refused
        who = _text(doc, "who", required=name == "approve")
        if isinstance(who, web.Response):
            return who
        verification = {} if name == "approve" else _verification(doc)
        if isinstance(verification, web.Response):
            return verification
        iid, cid = path_int(request, "id"), path_int(request, "cid")
        now = request.app[CLOCK].now()
        try:
            async with request.app[POOL].connection() as conn, conn.transaction():
                if name == "approve":
                    return reply(await store.approve_as(conn, now, iid, cid, who, via=me.via,
                                                        named=named))
                row = await store.active(conn, iid, cid)
                if name == "contained" and not row["approved"]:
                    return error(409, f"needs {row['approvals_needed']} approval(s) by another "
                                      f"responder first (has {len(row['approved_by'])})")
                row = await store.record_outcome(conn, name, now, row, who=who,
                                                 verification=verification)
        except store.Refused as exc:
            return _refusal(exc)
        return reply(row)

    return handler


def setup_routes(app: web.Application) -> None:
    base = "/api/v1/incidents/{id}/containments"
    app.router.add_get(base, listing)
    app.router.add_post(base, create)
    for name in ("approve", *store.OUTCOMES):
        app.router.add_post(f"{base}/{{cid}}/{name}", _action(name))
