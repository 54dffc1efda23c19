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

from router import sql, store
from router.health import Worker, bounded
from router.matrix import Matrix
from router.metrics import Metrics
from router.oncall import handoff, routing
from vigil.core import durations
from vigil.core.clock import Clock

log = logging.getLogger("vigil.router")

STALE_SWEEP_INTERVAL = 15.0   # seconds between stale sweeps of one engine


_FIRE = sql.load("fire")     # claim, fire and notify one batch of due plan rows
_STALE = sql.load("stale")   # claim a batch of stale alerts (store.resolve_many resolves them)


class Engine(Worker):
    def __init__(self, pool: AsyncConnectionPool[Any], matrix: Matrix, clock: Clock,
                 metrics: Metrics, *, batch_size: int = 1000, public_url: str = "",
                 op_timeout: float = 12.0, handoff_window: float = 3600.0) -> None:
        super().__init__(pool, clock, metrics, op_timeout)
        self.matrix = matrix
        self.handoff_window = handoff_window   # router/oncall/handoff.py
        self._handed_off: set[tuple[str, str]] = set()   # hand-offs settled, this process
        self.batch_size = batch_size
        self.public_url = public_url
        # Called after every committed statement: a tick working through a burst of many
        # batches is alive, not stalled (readiness, router/health.py).
        self.on_progress: Callable[[], None] | None = None
        esc = matrix.esc
        self._channels = store.channels(matrix)
        self._response_times = json.dumps({lv: matrix.response_time(lv) for lv in esc.levels})
        stale = {lv: matrix.stale_after(lv) for lv in esc.levels}
        self._stale_levels = json.dumps({lv: {"stale_after": s,
                                              "human": durations.format(round(s))}
                                         for lv, s in stale.items()})
        # The stale sweep reads every open alert: once per STALE_SWEEP_INTERVAL is plenty
        # for thresholds of half an hour and more.
        self._next_sweep: datetime | None = None

    async def tick(self) -> int:
        """Fire everything due now, batch by batch, announce on-call hand-offs, then resolve
        stale alerts; returns the number of plan rows fired, hand-offs announced and alerts
        resolved as stale."""
        total = await self._fire_all()
        if self.matrix.oncall.schedules:
            total += await bounded(self._handoffs(), self.op_timeout)
        now = self.clock.now()
        if self._next_sweep is None or now >= self._next_sweep:
            self._next_sweep = now + timedelta(seconds=STALE_SWEEP_INTERVAL)
            total += await self.resolve_stale()
        return total

    async def resolve_stale(self) -> int:
        """Resolve every open or acked alert not seen for its level's ``stale_after``: by
        ``router``, with the reason on the timeline, as any resolve (store.resolve_many)."""
        total = 0
        while True:
            rows = await bounded(self._sweep(), self.op_timeout)
            n = 0
            for row in rows:
                n += 1
                self.metrics.stale_resolved.labels(row["severity"]).inc()
            if n:
                log.info("resolved %d alert(s) not re-sent by Alertmanager (stale)", n)
            total += n
            if n < self.batch_size:
                return total

    async def _sweep(self) -> list[store.Row]:
        """One batch, one transaction: claim stale alerts (SKIP LOCKED), resolve them."""
        async with self.pool.connection() as conn, conn.transaction():
            now = self.clock.now()
            cur = await conn.execute(_STALE, {"now": now, "limit": self.batch_size,
                                              "levels": self._stale_levels})
            row = await cur.fetchone()
            rows = [] if row is None or not row[0] else await store.resolve_many(
                conn, self.matrix, row[1], now, "router", public_url=self.public_url)
        if self.on_progress is not None:
            self.on_progress()
        return rows

    async def _handoffs(self) -> int:
        async with self.pool.connection() as conn:
            n = await handoff.send(conn, self.matrix.oncall, self.clock.now(),
                                   self.handoff_window, self._handed_off)
        if n:
            log.info("announced %d on-call hand-off(s)", n)
        return n

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
        # Schedule targets resolve with this batch's clock: to whoever is on call when the
        # step fires, not when the alert arrived.
        now = self.clock.now()
        oncall = json.dumps(routing.resolution(self.matrix.esc, self.matrix.oncall, now))
        rows = await bounded(self._run(_FIRE, {
            "now": now, "limit": self.batch_size, "public_url": self.public_url,
            "channels": self._channels, "response_times": self._response_times,
            "oncall": oncall}), self.op_timeout)
        total = 0
        for kind, sev, step_no, notify, breach, count in rows:
            total += count
            if notify:
                self.metrics.escalations.labels(
                    sev, str(step_no) if kind == "step" else "notice").inc(count)
            elif breach:
                self.metrics.sla_breaches.labels(sev).inc(count)
        return total
