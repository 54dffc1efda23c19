"""The escalation engine: claim due plan rows, write their notifications, commit.

A tick claims due rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` and, in the
same transaction, marks them fired and writes one outbox row per target. Two
replicas can't claim the same row, a crash before commit leaves it pending
for the next tick (anyone's), and a crash after commit leaves it fired with
its notifications safe in the outbox: each step fires exactly once. The
database is the only timer: a restarted router finds overdue rows and fires
them at once. The app's engine loop merely calls ``tick`` every ``tick_interval``; each
statement is bounded client-side (``op_timeout``), so a frozen connection fails the tick
instead of hanging it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from router.health import bounded
from router.matrix import Matrix
from router.metrics import Metrics
from vigil.clock import Clock

log = logging.getLogger("vigil.router")

STALE_SWEEP_INTERVAL = 15.0   # seconds between stale sweeps of one engine


def _iso(column: str) -> str:
    """SQL rendering ``column`` (timestamptz) as Python's ``datetime.isoformat()`` does."""
    return (f"(to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
            f"date_part('microseconds', {column})::bigint %% 1000000 <> 0 "
            f"THEN to_char({column}, '.US') ELSE '' END || to_char({column}, 'TZH:TZM'))")


# One statement, so one transaction on the autocommit connection: claim the due rows
# (locked, skipping rows another replica holds), mark them fired, write one outbox row
# per target and the timeline rows, flag SLA breaches. The payloads are built here,
# in SQL, so a batch of thousands costs the router one round trip and no Python loop.
# Steps of acked alerts are skipped (ack cancels them already); a resolved alert's steps
# still pending are those that fell due while it was open (the resolve cancelled the rest,
# docs/router.md#resolve-rule) and fire; notices always go out; a 'resolve' row writes the
# resolve notices after the pages it waited for; an SLA check counts only if still open.
_FIRE = f"""
WITH due AS (
    SELECT id FROM vigil_router.steps
    WHERE state = 'pending' AND due_at <= %(now)s
    ORDER BY due_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), fired AS (
    UPDATE vigil_router.steps s SET state = 'fired', fired_at = %(now)s
    FROM due WHERE s.id = due.id
    RETURNING s.id, s.alert_id, s.kind, s.step_no, s.targets, s.due_at
), f AS (
    SELECT f.id, f.alert_id, f.kind, f.step_no, f.targets, f.due_at, a.severity,
           f.kind = 'notice' OR (f.kind = 'step' AND a.status <> 'acked') AS notify,
           f.kind = 'sla' AND a.status = 'open' AS breach,
           {_iso("f.due_at")} AS due_iso,
           CASE WHEN f.kind = 'step' THEN 'step' ELSE 'notice' END || f.step_no AS step_name,
           jsonb_build_object(
               'id', a.id, 'fingerprint', a.fingerprint, 'alertname', a.alertname,
               'severity', a.severity, 'status', a.status, 'starts_at', {_iso("a.starts_at")},
               'labels', a.labels, 'annotations', a.annotations,
               'generator_url', a.generator_url)
           || CASE WHEN %(public_url)s <> '' THEN jsonb_build_object(
                  'url', %(public_url)s || '/api/v1/alerts/' || a.id) ELSE '{{}}' END AS summary
    FROM fired f JOIN vigil_router.alerts a ON a.id = f.alert_id
), n AS (
    SELECT f.*, t.target, t.ord, %(channels)s::jsonb ->> t.target AS channel,
           'vigil-a' || f.alert_id || '-' || f.step_name || '-' || t.target AS key,
           CASE WHEN f.kind = 'step' THEN 'escalation' ELSE 'notice' END AS nkind
    FROM f CROSS JOIN LATERAL unnest(f.targets) WITH ORDINALITY AS t(target, ord)
    WHERE f.notify
), rn AS (   -- resolve rows: everyone notified, including by the pages fired right now
    SELECT f.alert_id, f.due_at, f.id, f.summary, t.target,
           %(channels)s::jsonb ->> t.target AS channel,
           'vigil-a' || f.alert_id || '-resolved-' || t.target AS key
    FROM f CROSS JOIN LATERAL (
        SELECT o.target FROM vigil_router.outbox o
        WHERE o.alert_id = f.alert_id AND o.kind IN ('escalation', 'notice')
        UNION
        SELECT n.target FROM n WHERE n.alert_id = f.alert_id) t
    WHERE f.kind = 'resolve'
), outbox AS (
    INSERT INTO vigil_router.outbox (idempotency_key, alert_id, kind, target, channel,
                                     payload, next_attempt_at, created_at)
    SELECT key, alert_id, nkind, target, channel, payload, %(now)s, %(now)s FROM (
        SELECT 0 AS grp, due_at, id, ord, key, alert_id, nkind, target, channel,
               jsonb_build_object('idempotency_key', key, 'kind', nkind, 'target', target,
                                  'channel', channel, 'step', step_no, 'due_at', due_iso,
                                  'alert', summary) AS payload
        FROM n
        UNION ALL
        SELECT 1, due_at, id, 0::bigint, key, alert_id, 'resolved', target, channel,
               jsonb_build_object('idempotency_key', key, 'kind', 'resolved', 'target', target,
                                  'channel', channel, 'alert', summary)
        FROM rn
    ) x ORDER BY due_at, id, grp, ord, target
    ON CONFLICT (idempotency_key) DO NOTHING
), events AS (
    INSERT INTO vigil_router.events (alert_id, at, kind, actor, detail)
    SELECT alert_id, %(now)s, kind, NULL, detail FROM (
        SELECT 0 AS grp, due_at, id, alert_id,
               CASE WHEN kind = 'step' THEN 'escalated' ELSE 'notice' END AS kind,
               jsonb_build_object('step', step_no, 'targets', to_jsonb(targets),
                                  'due_at', due_iso) AS detail
        FROM f WHERE notify
        UNION ALL
        SELECT 1, due_at, id, alert_id, 'sla_breached',
               jsonb_build_object('response_time_seconds',
                                  %(response_times)s::jsonb -> severity)
        FROM f WHERE breach
    ) e ORDER BY grp, due_at, id
), sla AS (
    UPDATE vigil_router.alerts SET sla_breached = true
    WHERE id IN (SELECT alert_id FROM f WHERE breach)
)
SELECT kind, severity, step_no, notify, breach, count(*)::int
FROM f GROUP BY kind, severity, step_no, notify, breach
"""


# One statement, so one transaction: resolve the open or acked alerts Alertmanager has not
# re-sent (received or duplicate: ``last_seen_at``) for their level's ``stale_after``
# (Alertmanager never sends the resolve of a silenced or inhibited alert, and forgets its
# alerts when restarted without state). Rows are claimed with SKIP LOCKED, so two replicas
# never resolve the same alert and a webhook re-sending it right now wins (the next sweep
# sees its new last_seen_at); the pending steps and SLA check are cancelled (SKIP LOCKED too:
# a step a tick is firing this instant counts as fired before the resolve, and no lock is
# waited for, so no deadlock with the tick's SLA update); the timeline gets ``resolved`` by
# ``router`` with the reason and the time to resolve, exactly as store.resolve writes it; with
# notify_on_resolve every target already notified gets a resolve notice (same key and payload
# as store.resolve's, so it is written at most once).
_STALE = f"""
WITH lv AS (
    SELECT key AS level, (value ->> 'stale_after')::float8 AS stale_after,
           (value ->> 'notify')::boolean AS notify
    FROM jsonb_each(%(levels)s::jsonb)
), cand AS (
    SELECT a.id, lv.stale_after, lv.notify, a.last_seen_at
    FROM vigil_router.alerts a JOIN lv ON lv.level = a.severity
    WHERE a.status <> 'resolved'
      AND a.last_seen_at < %(now)s - make_interval(secs => lv.stale_after)
    ORDER BY a.id
    LIMIT %(limit)s
    FOR UPDATE OF a SKIP LOCKED
), upd AS (
    UPDATE vigil_router.alerts a
    SET status = 'resolved', resolved_at = %(now)s, resolved_by = 'router', stale = true
    FROM cand WHERE a.id = cand.id
    RETURNING a.id, a.fingerprint, a.alertname, a.severity, a.starts_at, a.labels,
              a.annotations, a.generator_url, a.received_at, a.response_deadline,
              cand.stale_after, cand.notify, cand.last_seen_at
), pending AS (
    SELECT st.id FROM vigil_router.steps st
    WHERE st.alert_id IN (SELECT id FROM upd) AND st.state = 'pending'
      AND st.kind IN ('step', 'sla')
    FOR UPDATE OF st SKIP LOCKED
), cancelled AS (
    UPDATE vigil_router.steps s SET state = 'cancelled'
    FROM pending WHERE s.id = pending.id
    RETURNING s.alert_id
), events AS (
    INSERT INTO vigil_router.events (alert_id, at, kind, actor, detail)
    SELECT u.id, %(now)s, 'resolved', 'router', jsonb_build_object(
        'note', NULL,
        'reason', 'stale: not re-sent by Alertmanager for ' || (%(human)s::jsonb ->> u.severity),
        'stale_after_seconds', u.stale_after,
        'last_seen_at', {_iso("u.last_seen_at")},
        'time_to_resolve_seconds', extract(epoch FROM %(now)s - u.received_at)::float8,
        'within_response_time', %(now)s <= u.response_deadline,
        'cancelled_steps', (SELECT count(*) FROM cancelled c WHERE c.alert_id = u.id))
    FROM upd u ORDER BY u.id
), notify AS (
    SELECT u.*, t.target, %(channels)s::jsonb ->> t.target AS channel,
           'vigil-a' || u.id || '-resolved-' || t.target AS key
    FROM upd u CROSS JOIN LATERAL (
        SELECT DISTINCT o.target FROM vigil_router.outbox o
        WHERE o.alert_id = u.id AND o.kind IN ('escalation', 'notice')) t
    WHERE u.notify
), outbox AS (
    INSERT INTO vigil_router.outbox (idempotency_key, alert_id, kind, target, channel,
                                     payload, next_attempt_at, created_at)
    SELECT key, id, 'resolved', target, channel,
           jsonb_build_object('idempotency_key', key, 'kind', 'resolved', 'target', target,
                              'channel', channel, 'alert', jsonb_build_object(
               'id', id, 'fingerprint', fingerprint, 'alertname', alertname,
               'severity', severity, 'status', 'resolved', 'starts_at', {_iso("starts_at")},
               'labels', labels, 'annotations', annotations, 'generator_url', generator_url)
           || CASE WHEN %(public_url)s <> '' THEN jsonb_build_object(
                  'url', %(public_url)s || '/api/v1/alerts/' || id) ELSE '{{}}' END),
           %(now)s, %(now)s
    FROM notify ORDER BY id, target
    ON CONFLICT (idempotency_key) DO NOTHING
)
SELECT severity, count(*)::int FROM upd GROUP BY severity
"""


def human_duration(seconds: float) -> str:
    """``2100`` -> ``35m``, ``8100`` -> ``2h15m``, ``172800`` -> ``2d``."""
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


class Engine:
    def __init__(self, pool: AsyncConnectionPool[Any], matrix: Matrix, clock: Clock,
                 metrics: Metrics, *, batch_size: int = 1000, public_url: str = "",
                 op_timeout: float = 12.0) -> None:
        self.pool = pool
        self.matrix = matrix
        self.clock = clock
        self.metrics = metrics
        self.batch_size = batch_size
        self.public_url = public_url
        self.op_timeout = op_timeout   # client-side bound per statement (router/health.py)
        # Called after every committed statement: a tick working through a burst of many
        # batches is alive, not stalled (readiness, router/health.py).
        self.on_progress: Callable[[], None] | None = None
        esc = matrix.esc
        self._channels = json.dumps({t: target.channel for t, target in esc.targets.items()})
        self._response_times = json.dumps({lv: matrix.response_time(lv) for lv in esc.levels})
        self._stale_levels = json.dumps({lv: {"stale_after": matrix.stale_after(lv),
                                              "notify": matrix.notify_on_resolve(lv)}
                                         for lv in esc.levels})
        self._stale_human = json.dumps({lv: human_duration(matrix.stale_after(lv))
                                        for lv in esc.levels})
        # The stale sweep reads every open alert: once per STALE_SWEEP_INTERVAL is plenty
        # for thresholds of half an hour and more.
        self._next_sweep: datetime | None = None

    async def tick(self) -> int:
        """Fire everything due now, batch by batch, then resolve stale alerts; returns the
        number of plan rows fired plus alerts resolved as stale."""
        total = await self._fire_all()
        now = self.clock.now()
        if self._next_sweep is None or now >= self._next_sweep:
            self._next_sweep = now + timedelta(seconds=STALE_SWEEP_INTERVAL)
            total += await self.resolve_stale()
        return total

    async def resolve_stale(self) -> int:
        """Resolve every open or acked alert not seen for its level's ``stale_after``."""
        total = 0
        while True:
            rows = await bounded(self._run(_STALE, {
                "now": self.clock.now(), "limit": self.batch_size,
                "levels": self._stale_levels, "human": self._stale_human,
                "channels": self._channels, "public_url": self.public_url}), self.op_timeout)
            n = 0
            for sev, count in rows:
                n += count
                self.metrics.stale_resolved.labels(sev).inc(count)
            if n:
                log.info("resolved %d alert(s) not re-sent by Alertmanager (stale)", n)
            total += n
            if n < self.batch_size:
                return total

    async def _run(self, statement: str, params: dict[str, Any]) -> list[Any]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(statement, params)
            rows: list[Any] = await cur.fetchall()
        if self.on_progress is not None:
            self.on_progress()
        return rows

    async def _fire_all(self) -> int:
        total = 0
        while True:
            n = await self._batch()
            total += n
            if n < self.batch_size:
                return total

    async def _batch(self) -> int:
        """Fire up to ``batch_size`` due rows in one statement (one transaction, one round
        trip, whatever the batch size); returns how many rows were claimed."""
        rows = await bounded(self._run(_FIRE, {
            "now": self.clock.now(), "limit": self.batch_size, "public_url": self.public_url,
            "channels": self._channels, "response_times": self._response_times}),
            self.op_timeout)
        total = 0
        for kind, sev, step_no, notify, breach, count in rows:
            total += count
            if notify:
                self.metrics.escalations.labels(
                    sev, str(step_no) if kind == "step" else "notice").inc(count)
            elif breach:
                self.metrics.sla_breaches.labels(sev).inc(count)
        return total
