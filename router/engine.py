"""The escalation engine: claim due plan rows, write their notifications, commit.

A tick claims due rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` and, in the
same transaction, marks them fired and writes one outbox row per target. Two
replicas can't claim the same row, a crash before commit leaves it pending
for the next tick (anyone's), and a crash after commit leaves it fired with
its notifications safe in the outbox: each step fires exactly once. The
database is the only timer: a restarted router finds overdue rows and fires
them at once. apscheduler merely calls ``tick`` every ``tick_interval``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool

from router.matrix import Matrix
from router.metrics import Metrics
from vigil.clock import Clock

log = logging.getLogger("vigil.router")


def _iso(column: str) -> str:
    """SQL rendering ``column`` (timestamptz) as Python's ``datetime.isoformat()`` does."""
    return (f"(to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
            f"date_part('microseconds', {column})::bigint %% 1000000 <> 0 "
            f"THEN to_char({column}, '.US') ELSE '' END || to_char({column}, 'TZH:TZM'))")


# One statement, so one transaction on the autocommit connection: claim the due rows
# (locked, skipping rows another replica holds), mark them fired, write one outbox row
# per target and the timeline rows, flag SLA breaches. The payloads are built here,
# in SQL, so a batch of thousands costs the router one round trip and no Python loop.
# Steps of alerts no longer open are skipped (ack/resolve cancel them already); notices
# always go out; an SLA check counts only if the alert is still open.
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
           f.kind = 'notice' OR (f.kind = 'step' AND a.status = 'open') AS notify,
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
), outbox AS (
    INSERT INTO vigil_router.outbox (idempotency_key, alert_id, kind, target, channel,
                                     payload, next_attempt_at, created_at)
    SELECT key, alert_id, nkind, target, channel,
           jsonb_build_object('idempotency_key', key, 'kind', nkind, 'target', target,
                              'channel', channel, 'step', step_no, 'due_at', due_iso,
                              'alert', summary),
           %(now)s, %(now)s
    FROM n ORDER BY due_at, id, ord
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


class Engine:
    def __init__(self, pool: AsyncConnectionPool[Any], matrix: Matrix, clock: Clock,
                 metrics: Metrics, *, batch_size: int = 1000, public_url: str = "") -> None:
        self.pool = pool
        self.matrix = matrix
        self.clock = clock
        self.metrics = metrics
        self.batch_size = batch_size
        self.public_url = public_url
        esc = matrix.esc
        self._channels = json.dumps({t: target.channel for t, target in esc.targets.items()})
        self._response_times = json.dumps({lv: matrix.response_time(lv) for lv in esc.levels})

    async def tick(self) -> int:
        """Fire everything due now, batch by batch; returns the number of plan rows fired."""
        total = 0
        while True:
            n = await self._batch()
            total += n
            if n < self.batch_size:
                return total

    async def _batch(self) -> int:
        """Fire up to ``batch_size`` due rows in one statement (one transaction, one round
        trip, whatever the batch size); returns how many rows were claimed."""
        now = self.clock.now()
        async with self.pool.connection() as conn:
            cur = await conn.execute(_FIRE, {
                "now": now, "limit": self.batch_size, "public_url": self.public_url,
                "channels": self._channels, "response_times": self._response_times})
            rows = await cur.fetchall()
        total = 0
        for kind, sev, step_no, notify, breach, count in rows:
            total += count
            if notify:
                self.metrics.escalations.labels(
                    sev, str(step_no) if kind == "step" else "notice").inc(count)
            elif breach:
                self.metrics.sla_breaches.labels(sev).inc(count)
        return total
