"""Small JSON helpers shared by the route modules."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import psycopg
import psycopg.errors
from aiohttp import web
from psycopg_pool import PoolTimeout

from router.validate import PayloadError, is_id, loads, text_problem
from vigil.core.errors import DatabaseUnavailable

# Our faults: answer 503 so Alertmanager retries (it treats every 4xx as final).
DB_ERRORS = (psycopg.OperationalError, PoolTimeout, DatabaseUnavailable)
# PostgreSQL refused a value (class 22: data exception; 54: too deep or too big). The
# validation in router/validate.py should have caught it first: this is the net, a 400.
STORAGE_ERRORS = (psycopg.DataError, psycopg.errors.ProgramLimitExceeded)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status,
                             dumps=lambda d: json.dumps(d, default=_default))


def error(status: int, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return reply(body, status)


def _bad_request(field: str, message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message, "field": field}),
                              content_type="application/json")


def path_int(request: web.Request, name: str) -> int:
    """A path id: an integer bigint can hold, else 404 (no such row can exist)."""
    raw = request.match_info[name]
    try:
        value = int(raw) if raw.isascii() else None
    except ValueError:
        value = None
    if value is None or not is_id(value):
        raise web.HTTPNotFound(text=json.dumps({"error": f"{name} must be an integer id"}),
                               content_type="application/json")
    return value


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, checked by ``validate.loads`` (the middleware already
    refused any other content type with 415)."""
    if not request.can_read_body:
        return {}
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise web.HTTPRequestEntityTooLarge(
            max_size=request.client_max_size, actual_size=request.content_length or 0,
            text=json.dumps({"error": "body too large", "field": "body"}),
            content_type="application/json") from None
    if not raw.strip():
        return {}
    try:
        doc = loads(raw)
    except PayloadError as exc:
        raise _bad_request(exc.field, str(exc)) from None
    if not isinstance(doc, dict):
        raise _bad_request("body", "body: expected a JSON object")
    return doc


QUERY_PARAMS = frozenset({"status", "severity", "label", "limit", "window_seconds", "state",
                          "hours"})


def check_query(request: web.Request) -> web.Response | None:
    """A 400 for a query parameter PostgreSQL couldn't store (NUL, lone surrogate)."""
    for key, value in request.query.items():
        if text_problem(key):
            return error(400, "query: a parameter name can't be stored", "query")
        problem = text_problem(value)
        if problem:
            name = key if key in QUERY_PARAMS else "query"
            return error(400, f"{name}: a value {problem}", name)
    return None


def needs_json(request: web.Request) -> web.Response | None:
    """Every POST body is JSON: anything else (a form, text/plain: what a cross-site page
    can send without a preflight) is refused with 415, empty or not."""
    if request.method == "POST" and request.content_type != "application/json":
        return error(415, "Content-Type must be application/json", "Content-Type")
    return None


def unavailable() -> web.Response:
    return web.json_response({"error": "database unavailable; retry later"}, status=503,
                             headers={"Retry-After": "5"})
