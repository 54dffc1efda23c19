"""Alertmanager webhook (version 4) → alerts, durably, in one transaction per request.

The body is parsed and checked in ``router.payload``.

Identity is (fingerprint, startsAt): a repeat is a no-op counted on the timeline,
``resolved`` resolves, a new startsAt opens a new alert. An alert the engine resolved as
stale (not re-sent for its level's ``stale_after``) has left its identity: the same
identity firing again opens a new alert instance, and both timelines link the two
(``resent_after_stale`` on the old one, ``after_stale_alert`` on the new one's
``received``); a resolve for it is a duplicate of the stale one. Nothing is sent from here:
the engine and the outbox pick the new rows up.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from router import store
from router.matrix import Matrix, Planned
from router.payload import AlertIn, Parsed, PayloadError, parse_payload

__all__ = ["AlertIn", "IngestResult", "Parsed", "PayloadError", "ingest", "parse_payload"]


@dataclasses.dataclass
class IngestResult:
    new: int = 0
    duplicates: int = 0
    resolved: int = 0
    severities: list[str] = dataclasses.field(default_factory=list)   # of new alerts
    fallbacks: int = 0


# One statement per request: with an autocommit connection it is its own transaction,
# committed (and fsynced) before the result comes back, so one round trip makes a 2xx
# durable. The body travels once: it is the raw payload kept for replay, and the labels,
# annotations and generatorURL are read from it in SQL (``-> 'alerts' -> idx``), never
# re-encoded in Python. What Python decided (identity, severity, times) travels as one
# small JSON document of scalars. The plans and response times of every level are
# constants of the statement text, so the prepared statement (psycopg prepares it on a
# connection's 5th use) parses them once, not per request. Rows are upserted in
# (fingerprint, startsAt) order so that concurrent requests with the same alerts lock
# them in the same order (no deadlocks).
_INGEST = """
WITH raw AS (
    INSERT INTO vigil_router.raw_payloads (received_at, body)
    SELECT %(now)s, %(body)s WHERE %(store_raw)s
),
doc AS MATERIALIZED (   -- the body parsed once, not once per alert
    SELECT %(body)s::jsonb -> 'alerts' AS alerts
),
input AS (
    SELECT i.ord, i.fp, i.starts, i.sev, i.raw, i.fallback, i.firing, i.ends,
           coalesce(d -> 'labels' ->> 'alertname', '') AS name, d -> 'labels' AS labels,
           coalesce(nullif(d -> 'annotations', 'null'), '{{}}') AS ann,
           coalesce(d ->> 'generatorURL', '') AS gen
    FROM doc CROSS JOIN jsonb_to_recordset(%(alerts)s::jsonb) AS i(
        ord int, idx int, fp text, starts timestamptz, sev text, raw text, fallback boolean,
        firing boolean, ends timestamptz)
    CROSS JOIN LATERAL (SELECT doc.alerts -> i.idx AS d) AS b
),
late AS (  -- a resolve for an alert already resolved as stale: a duplicate of it
    SELECT i.ord, s.id
    FROM input i CROSS JOIN LATERAL (
        SELECT s.id FROM vigil_router.alerts s
        WHERE NOT i.firing AND s.stale AND s.fingerprint = i.fp AND s.starts_at = i.starts
          AND NOT EXISTS (SELECT 1 FROM vigil_router.alerts x WHERE NOT x.stale
                          AND x.fingerprint = i.fp AND x.starts_at = i.starts)
        ORDER BY s.id DESC LIMIT 1) s
),
up AS (
    INSERT INTO vigil_router.alerts AS a
        (fingerprint, starts_at, alertname, severity, severity_raw, labels, annotations,
         generator_url, status, received_at, last_seen_at, response_deadline, ends_at,
         resolved_at, resolved_by)
    SELECT fp, starts, name, sev, raw, labels, ann, gen,
           CASE WHEN firing THEN 'open' ELSE 'resolved' END, %(now)s, %(now)s,
           %(now)s + make_interval(secs => lv.response_time), ends,
           CASE WHEN firing THEN NULL ELSE %(now)s END,
           CASE WHEN firing THEN NULL ELSE 'alertmanager' END
    FROM input JOIN (VALUES {levels}) AS lv(level, response_time) ON lv.level = input.sev
    WHERE NOT EXISTS (SELECT 1 FROM late WHERE late.ord = input.ord)
    ORDER BY ord
    ON CONFLICT (fingerprint, starts_at) WHERE NOT stale DO UPDATE
        SET last_seen_at = excluded.last_seen_at, duplicates = a.duplicates + 1
    RETURNING a.id, (a.xmax = 0) AS inserted, a.status, a.fingerprint, a.starts_at
),
res AS (
    SELECT i.ord, up.id, i.firing, i.sev, i.fp, i.raw, i.fallback,
           CASE WHEN up.inserted THEN 'new'
                WHEN NOT i.firing AND up.status <> 'resolved' THEN 'resolve'
                ELSE 'duplicate' END AS outcome,
           prev.id AS prev   -- a new instance of an identity resolved as stale before
    FROM up JOIN input i ON i.fp = up.fingerprint AND i.starts = up.starts_at
    LEFT JOIN LATERAL (
        SELECT s.id FROM vigil_router.alerts s
        WHERE up.inserted AND s.stale AND s.fingerprint = i.fp AND s.starts_at = i.starts
        ORDER BY s.id DESC LIMIT 1) prev ON true
    UNION ALL
    SELECT i.ord, late.id, i.firing, i.sev, i.fp, i.raw, i.fallback, 'duplicate', NULL
    FROM late JOIN input i ON i.ord = late.ord
),
events AS (
    INSERT INTO vigil_router.events (alert_id, at, kind, actor, detail)
    SELECT CASE WHEN e.n = 4 THEN r.prev ELSE r.id END, %(now)s, e.kind, e.actor, e.detail
    FROM res r CROSS JOIN LATERAL (VALUES
        (1, 'received', NULL::text,
         jsonb_build_object('severity', r.sev, 'fingerprint', r.fp,
                            'status', CASE WHEN r.firing THEN 'firing' ELSE 'resolved' END)
         || CASE WHEN r.fallback THEN jsonb_build_object('severity_fallback', r.raw)
                 ELSE '{{}}'::jsonb END
         || CASE WHEN r.prev IS NOT NULL THEN jsonb_build_object('after_stale_alert', r.prev)
                 ELSE '{{}}'::jsonb END),
        (2, 'resolved', 'alertmanager', '{{"first_seen_resolved": true}}'::jsonb),
        (3, 'duplicate_suppressed', NULL,
         jsonb_build_object('status', CASE WHEN r.firing THEN 'firing' ELSE 'resolved' END)),
        (4, 'resent_after_stale', NULL, jsonb_build_object('new_alert', r.id))
    ) AS e(n, kind, actor, detail)
    WHERE (r.outcome = 'new' AND (e.n = 1 OR (e.n = 2 AND NOT r.firing)
                                  OR (e.n = 4 AND r.prev IS NOT NULL)))
       OR (r.outcome = 'duplicate' AND e.n = 3)
    ORDER BY r.ord, e.n
),
steps AS (
    INSERT INTO vigil_router.steps (alert_id, kind, step_no, due_at, targets)
    SELECT r.id, p.kind, p.step_no, %(now)s + make_interval(secs => p.delay), p.targets
    FROM res r JOIN (VALUES {plans}) AS p(level, n, kind, step_no, delay, targets)
      ON p.level = r.sev
    WHERE r.outcome = 'new' AND (
        (r.firing AND p.kind <> 'resolve')
        -- first seen resolved: never open here, so no step fell due while it was open,
        -- but the notices go out whatever happens, and then the resolve notice
        OR (NOT r.firing AND p.kind IN ('notice', 'resolve')))
    ORDER BY r.ord, p.n
)
SELECT ord, id, outcome FROM res ORDER BY ord
"""


def _literal(value: str) -> str:
    """A SQL string literal inside a psycopg query text (``%`` doubled as well)."""
    return "'" + value.replace("'", "''").replace("%", "%%") + "'"


def ingest_sql(matrix: Matrix) -> str:
    """The ingest statement with this matrix's levels and plans as constants."""
    esc = matrix.esc
    levels = ", ".join(f"({_literal(lv)}, {float(matrix.response_time(lv))!r}::float8)"
                       for lv in esc.levels)
    plans = ", ".join(
        f"({_literal(lv)}, {n}, {_literal(p.kind)}, {p.step_no}, {float(p.delay)!r}::float8, "
        f"ARRAY[{', '.join(_literal(t) for t in p.targets)}]::text[])"
        for lv in esc.levels for n, p in enumerate(_with_resolve(matrix, lv)))
    return _INGEST.format(levels=levels, plans=plans)


def _with_resolve(matrix: Matrix, level: str) -> list[Planned]:
    """The level's plan, plus the 'resolve' row an alert first seen resolved gets after its
    notices (when the level notifies on resolve): the engine writes the resolve notices."""
    plan = matrix.plan(level)
    notices = [p.delay for p in plan if p.kind == "notice"]
    if notices and matrix.notify_on_resolve(level):
        plan.append(Planned("resolve", 0, max(notices), ()))
    return plan


def _rounds(alerts: list[AlertIn]) -> list[list[AlertIn]]:
    """Split so no identity appears twice in one statement (``ON CONFLICT DO UPDATE``
    can't touch a row twice): the n-th copy of an identity goes to round n, each round
    sorted, so a repeat within one request is a duplicate exactly as in a later one."""
    seen: dict[tuple[str, datetime], int] = {}
    rounds: list[list[AlertIn]] = []
    for a in alerts:
        key = (a.fingerprint, a.starts_at)
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(a)
    return [sorted(r, key=lambda x: (x.fingerprint, x.starts_at)) for r in rounds]


async def _store_round(conn: AsyncConnection[Any], matrix: Matrix, alerts: list[AlertIn],
                       body: str, now: datetime, *, store_raw: bool,
                       res: IngestResult) -> list[tuple[int, datetime | None]]:
    """One statement: raw body, upserts, timeline rows, plans. Returns alerts to resolve."""
    rows = []
    sevs = []
    for i, a in enumerate(alerts):
        sev = matrix.severity(a.labels)
        sevs.append(sev)
        rows.append({
            "ord": i, "idx": a.index, "fp": a.fingerprint, "starts": a.starts_at.isoformat(),
            "sev": sev.level, "raw": sev.raw, "fallback": sev.fallback,
            "firing": a.status == "firing",
            "ends": a.ends_at.isoformat() if a.ends_at else None})
    cur = await conn.execute(matrix.ingest_sql, {
        "now": now, "body": body, "store_raw": store_raw, "alerts": json.dumps(rows)})
    to_resolve = []
    for ord_, alert_id, outcome in await cur.fetchall():
        a, sev = alerts[ord_], sevs[ord_]
        if outcome == "new":
            res.new += 1
            res.severities.append(sev.level)
            res.fallbacks += sev.fallback
            res.resolved += a.status != "firing"
        elif outcome == "resolve":
            res.resolved += 1
            to_resolve.append((alert_id, a.ends_at))
        else:
            res.duplicates += 1
    return to_resolve


async def ingest(conn: AsyncConnection[Any], matrix: Matrix, alerts: list[AlertIn],
                 body: bytes, now: datetime, *, store_raw: bool = True) -> IngestResult:
    """Store one webhook request in one transaction.

    The common request (firing alerts, new or repeated) is a single statement on the
    autocommit connection: one round trip, committed before it returns. Requests that
    resolve an alert or repeat an identity within themselves take an explicit
    transaction around the same statement and the resolve bookkeeping."""
    res = IngestResult()
    rounds = _rounds(alerts)
    text = body.decode("utf-8")  # parse_payload accepted it as UTF-8
    if len(rounds) <= 1 and all(a.status == "firing" for a in alerts):
        await _store_round(conn, matrix, rounds[0] if rounds else [], text, now,
                           store_raw=store_raw, res=res)
        return res
    async with conn.transaction():
        to_resolve: list[tuple[int, datetime | None]] = []
        for i, r in enumerate(rounds or [[]]):
            to_resolve += await _store_round(conn, matrix, r, text, now,
                                             store_raw=store_raw and i == 0, res=res)
        for alert_id, ended_at in to_resolve:
            await store.resolve(conn, matrix, alert_id, now, "alertmanager", ended_at=ended_at)
    return res
