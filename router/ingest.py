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
import functools
import json
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from router import sql, store
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
# small JSON document of scalars; the response times and plans of the request's levels as
# two more, their rows made once per matrix (``_plans``). The text is router/sql/ingest.sql.
_INGEST = sql.load("ingest")


@functools.lru_cache(maxsize=8)
def _level_params(matrix: Matrix) -> dict[str, tuple[str, str]]:
    """Per level, its JSON rows of the ingest statement's ``levels`` and ``plans``."""
    out = {}
    for lv in matrix.esc.levels:
        plans = [{"level": lv, "n": n, "kind": p.kind, "step_no": p.step_no, "delay": p.delay,
                  "targets": list(p.targets)} for n, p in enumerate(_with_resolve(matrix, lv))]
        out[lv] = (json.dumps({"level": lv, "response_time": matrix.response_time(lv)}),
                   json.dumps(plans)[1:-1])
    return out


def _plans(matrix: Matrix, levels: set[str]) -> dict[str, str]:
    """The ``levels`` and ``plans`` parameters, for the levels of this request only (a
    request rarely carries more than one level: a quarter of the JSON to parse)."""
    known = _level_params(matrix)
    rows = [known[lv] for lv in sorted(levels) if lv in known]
    return {"levels": "[" + ",".join(r[0] for r in rows) + "]",
            "plans": "[" + ",".join(r[1] for r in rows if r[1]) + "]"}


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
    cur = await conn.execute(_INGEST, {
        "now": now, "body": body, "store_raw": store_raw, "alerts": json.dumps(rows),
        **_plans(matrix, {sev.level for sev in sevs})})
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
