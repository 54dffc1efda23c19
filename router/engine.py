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

import logging
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from router import store
from router.matrix import Matrix
from router.metrics import Metrics
from vigil.clock import Clock

log = logging.getLogger("vigil.router")

_CLAIM = """
WITH due AS (
    SELECT id FROM vigil_router.steps
    WHERE state = 'pending' AND due_at <= %(now)s
    ORDER BY due_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE vigil_router.steps s SET state = 'fired', fired_at = %(now)s
FROM due WHERE s.id = due.id
RETURNING s.id, s.alert_id, s.kind, s.step_no, s.targets, s.due_at
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
        self.lateness: list[float] = []   # seconds past due, kept only when ``measure`` is set
        self.measure = False

    async def tick(self) -> int:
        """Fire everything due now, batch by batch; returns the number of plan rows fired."""
        total = 0
        while True:
            n = await self._batch()
            total += n
            if n < self.batch_size:
                return total

    async def _batch(self) -> int:
        now = self.clock.now()
        async with self.pool.connection() as conn, conn.transaction():
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(_CLAIM, {"now": now, "limit": self.batch_size})
                fired = await cur.fetchall()
                if not fired:
                    return 0
                await cur.execute(
                    f"SELECT {store.ALERT_COLUMNS} FROM vigil_router.alerts WHERE id = ANY(%s)",
                    (list({f["alert_id"] for f in fired}),))
                alerts = {a["id"]: a for a in await cur.fetchall()}
            items = []
            escalated: list[tuple[int, str, dict[str, Any]]] = []
            breached: list[int] = []
            counts: list[tuple[str, str]] = []
            for f in fired:
                alert = alerts[f["alert_id"]]
                if self.measure:
                    self.lateness.append((now - f["due_at"]).total_seconds())
                if f["kind"] == "sla":
                    if alert["status"] == "open":
                        breached.append(alert["id"])
                    continue
                if f["kind"] == "step" and alert["status"] != "open":
                    continue  # belt and braces: ack/resolve cancel these rows already
                nkind = "escalation" if f["kind"] == "step" else "notice"
                step = f"{'step' if f['kind'] == 'step' else 'notice'}{f['step_no']}"
                for target in f["targets"]:
                    key = store.idempotency_key(f"a{alert['id']}", step, target)
                    items.append((key, alert, "alert", nkind, target,
                                  {"step": f["step_no"], "due_at": f["due_at"].isoformat()}))
                escalated.append((alert["id"], "escalated" if f["kind"] == "step" else "notice",
                                  {"step": f["step_no"], "targets": f["targets"],
                                   "due_at": f["due_at"].isoformat()}))
                counts.append((alert["severity"], str(f["step_no"]) if f["kind"] == "step"
                               else "notice"))
            await store.enqueue(conn, self.matrix, now, items, self.public_url)
            async with conn.cursor() as cur:
                rows = [(aid, now, kind, None, Jsonb(d)) for aid, kind, d in escalated]
                rows += [(aid, now, "sla_breached", None, Jsonb({
                    "response_time_seconds": self.matrix.response_time(alerts[aid]["severity"])}))
                    for aid in breached]
                await cur.executemany(
                    "INSERT INTO vigil_router.events (alert_id, at, kind, actor, detail) "
                    "VALUES (%s, %s, %s, %s, %s)", rows)
                if breached:
                    await cur.execute("UPDATE vigil_router.alerts SET sla_breached = true "
                                      "WHERE id = ANY(%s)", (breached,))
        for sev, step in counts:
            self.metrics.escalations.labels(sev, step).inc()
        for aid in breached:
            self.metrics.sla_breaches.labels(alerts[aid]["severity"]).inc()
        return len(fired)
