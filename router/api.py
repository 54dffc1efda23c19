"""HTTP routes: the Alertmanager webhook, the alert API, health and metrics.

An alert's context and related alerts live in ``router.context``; incidents in
``router.incidents`` and ``router.incident_api``; the OpenAPI document in ``router.openapi``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from router import (
    context,
    evidence,
    identity,
    incident_api,
    incidents,
    ingest,
    migrate,
    openapi,
    sql,
    store,
)
from router.config import LEVELS
from router.health import bounded
from router.http import DB_ERRORS, error, json_body, path_int, reply, unavailable
from router.keys import CLOCK, CONFIG, HEALTH, MATRIX, METRICS, POOL
from vigil.core.logs import fields

log = logging.getLogger("vigil.router")
MAX_LIMIT = 1000
_LIST = sql.load("list_alerts")


async def alertmanager(request: web.Request) -> web.Response:
    started = time.perf_counter()
    try:
        response = await _alertmanager(request)
    except DB_ERRORS:
        request.app[HEALTH].db_error("webhook")   # one warning per outage, not per request
        response = unavailable()
    request.app[METRICS].webhook_latency.labels(str(response.status)).observe(
        time.perf_counter() - started)
    return response


async def _alertmanager(request: web.Request) -> web.Response:
    limit = request.app[CONFIG].router.webhook.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return error(413, f"body larger than {limit} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return error(413, f"body larger than {limit} bytes")
    try:
        parsed = ingest.parse_payload(body)
    except ingest.PayloadError as exc:
        return error(400, str(exc), exc.field)
    app = request.app
    alerts = parsed.alerts
    if alerts or not parsed.refused:
        async with app[POOL].connection() as conn:
            res = await ingest.ingest(conn, app[MATRIX], alerts, parsed.body, app[CLOCK].now())
    else:
        res = ingest.IngestResult()
    m = app[METRICS]
    for sev in res.severities:
        m.received.labels(sev).inc()
    if res.duplicates:
        m.duplicates.inc(res.duplicates)
    if res.fallbacks:
        m.fallbacks.inc(res.fallbacks)
    if parsed.refused:
        # The rest of the group is stored (a P1 beside a bad alert still pages); the 400 is
        # final for Alertmanager, which logs it: field names only, never values.
        first = parsed.refused[0]
        log.warning("webhook alerts refused", extra=fields(
            refused=len(parsed.refused), field=first.field, stored=len(alerts)))
        return reply({"error": str(first), "field": first.field,
                      "refused": [e.field for e in parsed.refused], "stored": len(alerts),
                      "new": res.new, "duplicates": res.duplicates, "resolved": res.resolved},
                     400)
    return reply({"status": "stored", "alerts": len(alerts), "new": res.new,
                  "duplicates": res.duplicates, "resolved": res.resolved})


async def list_alerts(request: web.Request) -> web.Response:
    q = request.query
    status = q.get("status") or None
    if status and status not in ("open", "acked", "resolved", "unresolved"):
        return error(400, "status: use open, acked, resolved or unresolved", "status")
    severity = q.get("severity") or None
    if severity and severity not in LEVELS:
        return error(400, "severity: use P1, P2, P3 or P4", "severity")
    labels = {}
    for item in q.getall("label", []):
        name, sep, value = item.partition("=")
        if not sep or not name:
            return error(400, "label: use label=name=value", "label")
        labels[name] = value
    try:
        limit = int(q.get("limit", "100"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:   # 0 or -1 used to return one row, silently
        return error(400, f"limit: expected an integer from 1 to {MAX_LIMIT}", "limit")
    async with request.app[POOL].connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LIST, {"status": status, "severity": severity,
                                  "labels": Jsonb(labels) if labels else None, "limit": limit})
        rows = await cur.fetchall()
    return reply({"alerts": rows})


async def get_alert(request: web.Request) -> web.Response:
    async with request.app[POOL].connection() as conn:
        row = await store.get_alert(conn, path_int(request, "id"))
    return reply(row) if row else error(404, "no such alert")


async def _change(request: web.Request, action: str) -> web.Response:
    alert_id = path_int(request, "id")
    doc = await json_body(request)
    if (refused := identity.claim(request, doc)) is not None:
        return refused
    who, note = doc.get("who") or "api", doc.get("note")
    if not isinstance(who, str) or (note is not None and not isinstance(note, str)):
        return error(400, "who/note: expected strings", "who")
    app = request.app
    now = app[CLOCK].now()
    async with app[POOL].connection() as conn, conn.transaction():
        if action == "ack":
            row = await store.ack(conn, alert_id, now, who, note,
                                  extra={"via": identity.caller(request).via})
        else:
            row = await store.resolve(conn, app[MATRIX], alert_id, now, who, note=note,
                                      public_url=app[CONFIG].router.public_url,
                                      detail={"via": identity.caller(request).via})
        if row is None:
            current = await store.get_alert(conn, alert_id)
    if row is None:
        if current is None:
            return error(404, "no such alert")
        return error(409, f"alert is {current['status']}; cannot {action} it")
    if action == "ack":
        app[METRICS].time_to_ack.labels(row["severity"]).observe(
            (now - row["received_at"]).total_seconds())
    return reply(row)


async def ack_alert(request: web.Request) -> web.Response:
    return await _change(request, "ack")


async def resolve_alert(request: web.Request) -> web.Response:
    return await _change(request, "resolve")


async def alert_timeline(request: web.Request) -> web.Response:
    alert_id = path_int(request, "id")
    async with request.app[POOL].connection() as conn:
        if await store.get_alert(conn, alert_id) is None:
            return error(404, "no such alert")
        events = await store.timeline(conn, alert_id=alert_id)
    return reply({"alert_id": alert_id, "events": events})


async def outbox(request: web.Request) -> web.Response:
    state = request.query.get("state", "dead")
    if state not in ("pending", "sent", "dead"):
        return error(400, "state: use pending, sent or dead", "state")
    async with request.app[POOL].connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, idempotency_key, alert_id, incident_id, kind, target, "
                          "channel, state, attempts, next_attempt_at, last_error, created_at, "
                          "sent_at FROM vigil_router.outbox WHERE state = %s "
                          "ORDER BY id DESC LIMIT 500", (state,))
        return reply({"deliveries": await cur.fetchall()})


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="OK\n")


async def ready(request: web.Request) -> web.Response:
    """503 when the engine or the sender has not succeeded for ``engine.stall_after`` (a
    frozen connection hangs them while a fresh one may still work), when the database can't
    be reached within 2 s, or when migrations are behind."""
    snap = request.app[METRICS].snapshot
    stalled = request.app[HEALTH].stalled()
    if stalled:
        snap.ready = 0
        return web.Response(status=503, text=f"stalled: {', '.join(stalled)}\n")

    async def check() -> Any:
        async with request.app[POOL].connection(timeout=2) as conn:
            cur = await conn.execute(
                "SELECT coalesce(max(version), 0) FROM vigil_router.schema_migrations")
            return await cur.fetchone()

    try:
        row = await bounded(check(), 2.0)
    except Exception:
        snap.ready = 0
        return web.Response(status=503, text="database unreachable\n")
    current, want = int(row[0]) if row else 0, migrate.latest()
    snap.ready = int(current == want)
    if current != want:
        return web.Response(status=503, text=f"migrations at {current}, want {want}\n")
    return web.Response(text="OK\n")


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    try:
        await bounded(_refresh(request, m), 2.0)
    except Exception:
        m.snapshot.ready = 0  # the gauges keep their last values; vigil_router_up says why
    return web.Response(body=generate_latest(m.registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _refresh(request: web.Request, m: Any) -> None:
    async with request.app[POOL].connection(timeout=2) as conn:
        cur = await conn.execute(
            "SELECT severity, count(*) FROM vigil_router.alerts WHERE status <> 'resolved' "
            "GROUP BY severity")
        m.snapshot.open_alerts = {r[0]: int(r[1]) for r in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE state = 'pending'), "
            "count(*) FILTER (WHERE state = 'dead') FROM vigil_router.outbox "
            "WHERE state <> 'sent'")
        row = await cur.fetchone()
        if row:
            m.snapshot.outbox_pending, m.snapshot.outbox_dead = int(row[0]), int(row[1])
        m.snapshot.ready = int(not request.app[HEALTH].stalled())


async def openapi_doc(request: web.Request) -> web.Response:
    return reply(openapi.document())


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/alertmanager", alertmanager)
    r.add_get("/api/v1/alerts", list_alerts)
    r.add_get("/api/v1/alerts/{id}", get_alert)
    r.add_get("/api/v1/alerts/{id}/context", context.alert_context)
    r.add_post("/api/v1/alerts/{id}/ack", ack_alert)
    r.add_post("/api/v1/alerts/{id}/resolve", resolve_alert)
    r.add_get("/api/v1/alerts/{id}/timeline", alert_timeline)
    r.add_get("/api/v1/alerts/{id}/related", context.related)
    r.add_get("/api/v1/outbox", outbox)
    incidents.setup_routes(app)
    incident_api.setup_routes(app)
    evidence.setup_routes(app)
    r.add_get("/api/v1/openapi.json", openapi_doc)
    r.add_get("/metrics", metrics)
    r.add_get("/-/healthy", healthy)
    r.add_get("/-/ready", ready)


