"""The runbook's "gather context" and "check related events" for one alert.

``GET /api/v1/alerts/{id}/context``: the alert, its escalation plan and deliveries, its metric
history from Prometheus (router.alert_metrics), the earlier alerts of the same name, and the
related alerts with the labels that matched. ``GET /api/v1/alerts/{id}/related``: the related
alerts alone, ranked by how many labels match, never by labels every alert shares
(``related_ignore_labels``). The database objects the alert names are looked up by the CLI in
the monitored database (router/cli_alerts.py): the router doesn't connect to it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from router import alert_metrics, sql, store
from router.http import error, path_int, reply
from router.keys import CLOCK, CONFIG, MATRIX, POOL

MAX_WINDOW = 366 * 86400   # related alerts: a year either side at most
MAX_HOURS = 7 * 24         # metric history: a week at most
DEFAULT_HOURS = 3.0
_RELATED = sql.load("related")
_SAME_NAME = sql.load("same_name")


def _number(request: web.Request, name: str, default: float, top: float, *,
            zero: bool = False) -> float | None:
    """The query parameter as a number above 0 (or 0 itself when ``zero``) up to ``top``;
    None for anything else (NaN and infinities included)."""
    try:
        value = float(request.query.get(name, default))
    except ValueError:
        return None
    return value if 0 < value <= top or (zero and value == 0) else None


async def _related(conn: Any, request: web.Request, alert: dict[str, Any], window: float,
                   limit: int) -> list[dict[str, Any]]:
    span = timedelta(seconds=window)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_RELATED, {
            "name": alert["alertname"], "labels": Jsonb(alert["labels"]), "id": alert["id"],
            "ignore": list(request.app[CONFIG].router.related_ignore_labels),
            "lo": alert["received_at"] - span, "hi": alert["received_at"] + span,
            "limit": limit})
        rows: list[dict[str, Any]] = await cur.fetchall()
    return rows


def _window(request: web.Request) -> float | web.Response:
    window = _number(request, "window_seconds", request.app[CONFIG].router.related_window,
                     MAX_WINDOW, zero=True)
    if window is None:   # NaN and out of range
        return error(400, f"window_seconds: expected a number of seconds from 0 to "
                          f"{MAX_WINDOW}", "window_seconds")
    return window


async def related(request: web.Request) -> web.Response:
    """Alerts with the same alertname or a shared label, within the window around this one."""
    alert_id = path_int(request, "id")
    window = _window(request)
    if isinstance(window, web.Response):
        return window
    async with request.app[POOL].connection() as conn:
        alert = await store.get_alert(conn, alert_id)
        if alert is None:
            return error(404, "no such alert")
        rows = await _related(conn, request, alert, window, 200)
    return reply({"alert_id": alert_id, "window_seconds": window, "related": rows,
                  "ignored_labels": _ignored(request)})


def _ignored(request: web.Request) -> list[str]:
    return ["alertname", "severity", *request.app[CONFIG].router.related_ignore_labels]


async def alert_context(request: web.Request) -> web.Response:
    """Everything the runbook's "gather context" step asks for, in one answer."""
    alert_id = path_int(request, "id")
    hours = _number(request, "hours", DEFAULT_HOURS, MAX_HOURS)
    if hours is None:
        return error(400, f"hours: expected a number of hours above 0, at most {MAX_HOURS}",
                     "hours")
    window = _window(request)
    if isinstance(window, web.Response):
        return window
    app = request.app
    async with app[POOL].connection() as conn:
        alert = await store.get_alert(conn, alert_id)
        if alert is None:
            return error(404, "no such alert")
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT kind, step_no, due_at, targets, state, fired_at FROM "
                              "vigil_router.steps WHERE alert_id = %s ORDER BY due_at, id",
                              (alert_id,))
            plan = await cur.fetchall()
            await cur.execute("SELECT idempotency_key, kind, target, channel, state, attempts, "
                              "last_error, created_at, sent_at FROM vigil_router.outbox "
                              "WHERE alert_id = %s ORDER BY id", (alert_id,))
            deliveries = await cur.fetchall()
            await cur.execute(_SAME_NAME, {"id": alert_id, "name": alert["alertname"],
                                           "before": alert["received_at"], "limit": 10})
            earlier = await cur.fetchall()
        rel = await _related(conn, request, alert, window, 10)
    metrics = await alert_metrics.history(app[CONFIG].router.prometheus_url, alert,
                                          app[CLOCK].now(), hours)
    total = int(earlier[0]["total"]) if earlier else 0
    for row in earlier:
        del row["total"]
    return reply({"alert": alert, "plan": plan, "deliveries": deliveries,
                  "response_time_seconds": app[MATRIX].response_time(alert["severity"]),
                  "metrics": metrics,
                  "earlier": {"total": total, "alerts": earlier},
                  "related": {"window_seconds": window, "ignored_labels": _ignored(request),
                              "alerts": rel}})
