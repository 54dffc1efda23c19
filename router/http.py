"""Small JSON helpers shared by the route modules."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import psycopg
from aiohttp import web
from psycopg_pool import PoolTimeout

from vigil.errors import DatabaseUnavailable

# Our faults: answer 503 so Alertmanager retries (it treats every 4xx as final).
DB_ERRORS = (psycopg.OperationalError, PoolTimeout, DatabaseUnavailable)


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


def path_int(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound(text=json.dumps({"error": f"{name} must be an integer"}),
                               content_type="application/json") from None


async def json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        doc = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": "body: not valid JSON",
                                                  "field": "body"}),
                                 content_type="application/json") from None
    if not isinstance(doc, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "body: expected a JSON object",
                                                  "field": "body"}),
                                 content_type="application/json")
    return doc




def unavailable() -> web.Response:
    return web.json_response({"error": "database unavailable; retry later"}, status=503,
                             headers={"Retry-After": "5"})
