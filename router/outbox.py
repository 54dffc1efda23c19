"""The outbox sender: at-least-once delivery with backoff, retries and a dead letter.

``run`` keeps up to ``concurrency`` deliveries in flight: it claims due rows
(``FOR UPDATE SKIP LOCKED``) by taking a lease on them, commits, and hands each
to its own task; as soon as a quarter of the slots are free again it claims
more, so a burst of thousands of due steps leaves at the speed the targets
take them, not one batch per poll. ``poll_interval`` only bounds how long new
work waits when nothing wakes the sender. No target may hold more than
``per_target_concurrency`` slots, and every send has its channel's timeout: a
hung target holds a few slots for at most that long and the others keep
flowing; a target that just failed (refused, 5xx, timed out) gets no new
deliveries for ``backoff_initial``, so it is probed, not flooded. A router
killed mid-send loses only the lease: the row is claimed again when it expires
(at-least-once), and the receiver drops the repeat by its ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from router import sql
from router.channels import Channel, Delivery, DeliveryError
from router.config import Escalation, Outbox
from router.health import Worker, bounded
from router.metrics import Metrics
from router.oncall import routing
from router.oncall.model import Oncall
from vigil.core.clock import Clock
from vigil.core.logs import StateLog, fields
from vigil.core.secrets import scrub

log = logging.getLogger("vigil.router")

# Candidates are the earliest due rows of targets with room left (a target already at its
# bound in this process is skipped, so a hung target's backlog never crowds the scan);
# each target gets at most its remaining room; the rows are then locked, skipping any
# another replica holds, and leased in the same statement. A resolve notice is not a
# candidate while a page or notice written before it to the same target is undelivered: the
# target hears "resolved" after the page, never before (docs/router.md#resolve-rule).
_CLAIM = sql.load("claim")


# Results and their timeline rows, many per statement (one transaction, one round trip,
# one commit): deliveries that finish while a write is in flight share the next one.
_RECORD = sql.load("record")
_RECORD_BATCH = 512


def backoff(cfg: Outbox, attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: initial * 2^(attempts-1), capped."""
    return float(min(cfg.backoff_max, cfg.backoff_initial * 2 ** max(attempts - 1, 0)))


class Sender(Worker):
    def __init__(self, pool: AsyncConnectionPool[Any], esc: Escalation, *,
                 channels: dict[str, Channel], cfg: Outbox, clock: Clock,
                 metrics: Metrics, op_timeout: float = 12.0,
                 oncall: Oncall | None = None,
                 decorate: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        super().__init__(pool, clock, metrics, op_timeout)
        # What is sent for a claimed row: its stored payload, plus what can't be stored
        # (the console's signed ack link, router/console/links.py) when set.
        self.decorate = decorate
        self.esc = esc
        # Addresses of every delivery target: escalation.yml's and each on-call person's.
        self.addresses = routing.addresses(esc, oncall or Oncall())
        self.channels = channels
        self.cfg = cfg
        self.inflight: set[asyncio.Task[None]] = set()
        self.busy: Counter[str] = Counter()     # deliveries in flight per target
        self.per_target = max(1, min(cfg.per_target_concurrency, cfg.concurrency))
        self.refill = max(1, cfg.concurrency // 4)   # free slots that trigger a claim
        self.states = StateLog(log)
        self._wake = asyncio.Event()
        self._results: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        # A target whose last attempt failed (retryably) gets no new deliveries for
        # backoff_initial: a refusing or hung receiver is probed, not flooded with every
        # row due for it (rows not attempted keep their attempts).
        self.cooling: dict[str, datetime] = {}
        self._writer: asyncio.Task[None] | None = None
        self._report: Callable[[BaseException | None], None] | None = None
        # Rows this process leased and has not recorded a result for: released on close.
        self.leased: dict[int, datetime] = {}

    def wake(self) -> None:
        """New work may be due (the engine just fired steps): claim without waiting."""
        self._wake.set()

    async def pump(self) -> int:
        """Claim what is due, within the free slots and each target's room, and start
        sending it; returns the number claimed."""
        free = self.cfg.concurrency - len(self.inflight)
        if free <= 0:
            return 0
        now = self.clock.now()
        for t in [t for t, until in self.cooling.items() if until <= now]:
            del self.cooling[t]
        full = [t for t, n in self.busy.items() if n >= self.per_target] + list(self.cooling)
        room = {t: self.per_target - n for t, n in self.busy.items() if 0 < n < self.per_target}
        # One statement on the autocommit connection: its own transaction. Abandoned after
        # op_timeout, it may still commit: those leases expire and the rows are retried.
        params_lease = now + timedelta(seconds=self.cfg.lease)
        rows = await bounded(self._claim({
            "now": now, "limit": free, "scan": max(256, 4 * free), "full": full,
            "room": json.dumps(room), "per_target": self.per_target,
            "lease": params_lease}), self.op_timeout)
        for row in rows:
            self.leased[row["id"]] = params_lease
            self.busy[row["target"]] += 1
            task = asyncio.create_task(self._deliver(row))
            self.inflight.add(task)
            task.add_done_callback(self._done)
        return len(rows)

    async def _claim(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_CLAIM, params)
            rows: list[dict[str, Any]] = await cur.fetchall()
            return rows

    def _done(self, task: asyncio.Task[None]) -> None:
        self.inflight.discard(task)
        if self.cfg.concurrency - len(self.inflight) >= self.refill:
            self._wake.set()

    async def run(self, on_error: Callable[[BaseException | None], None] | None = None
                  ) -> None:
        """Deliver until cancelled: claim whenever enough slots are free, else wait for a
        delivery to finish, ``wake()``, or ``poll_interval``. Never raises: a failed claim
        is reported to ``on_error`` and retried after ``poll_interval``."""
        self._report = on_error
        while True:
            self._wake.clear()
            try:
                free = self.cfg.concurrency - len(self.inflight)
                claimed = await self.pump()
                if on_error:
                    on_error(None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if on_error:
                    on_error(exc)
                claimed = free = 0
            if claimed and claimed == free:
                continue   # every slot filled: more may be due as soon as one frees
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that races with the wake-up, and this loop would then outlive shutdown.
            with suppress(TimeoutError):
                async with asyncio.timeout(self.cfg.poll_interval):
                    await self._wake.wait()

    async def drain(self) -> None:
        """Wait for every delivery in flight (tests, shutdown)."""
        while self.inflight:
            await asyncio.gather(*list(self.inflight), return_exceptions=True)

    async def close(self) -> None:
        """Graceful stop: cancel what is in flight, wait for it (at most 5 s), then release
        the leases of every row not recorded, so another replica retries it at once instead
        of after ``lease`` (a rolling restart must not delay a page by a minute)."""
        tasks = [*self.inflight, *([self._writer] if self._writer else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        await self.release()

    async def release(self) -> int:
        """Give back the leases this process holds on unrecorded rows (the attempt did not
        finish: it doesn't count). Only our own lease is touched: a row re-claimed
        elsewhere after it expired keeps its new one. Returns the rows released."""
        if not self.leased:
            return 0
        ids, leases = list(self.leased), [self.leased[i] for i in self.leased]
        self.leased.clear()
        async def work() -> int:
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    "UPDATE vigil_router.outbox o SET lease_until = NULL, "
                    "attempts = greatest(o.attempts - 1, 0) FROM unnest(%s::bigint[], "
                    "%s::timestamptz[]) AS l(id, lease) WHERE o.id = l.id "
                    "AND o.state = 'pending' AND o.lease_until = l.lease", (ids, leases))
                return int(cur.rowcount)
        try:
            return await bounded(work(), min(self.op_timeout, 5.0))
        except Exception as exc:
            # The leases expire by themselves: only the retry is later.
            log.warning("could not release delivery leases on stop",
                        extra=fields(rows=len(ids), error=type(exc).__name__))
            return 0

    async def _deliver(self, row: dict[str, Any]) -> None:
        try:
            await self._send_and_record(row)
        finally:
            self.busy[row["target"]] -= 1
            if self.busy[row["target"]] <= 0:
                del self.busy[row["target"]]

    async def _send_and_record(self, row: dict[str, Any]) -> None:
        channel = self.channels[row["channel"]]
        payload = self.decorate(row) if self.decorate else row["payload"]
        d = Delivery(row["idempotency_key"], row["target"],
                     self.addresses.get(row["target"], ()), payload, row["attempts"])
        error: DeliveryError | None = None
        try:
            async with asyncio.timeout(channel.timeout):
                await channel.send(d)
        except TimeoutError:
            error = DeliveryError(f"timed out after {channel.timeout:g}s")
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a channel bug must not kill the sender
            error = DeliveryError(f"{type(exc).__name__}")
        try:
            await self._record(row, channel, error)
            self.leased.pop(row["id"], None)
        except Exception as exc:
            # The lease expires and the row is retried: at-least-once still holds. A database
            # outage is reported once by the run loop's callback, not once per delivery.
            if self._report is not None:
                self._report(exc)
            else:
                log.warning("could not record a delivery result", extra=fields(
                    target=row["target"], key=row["idempotency_key"],
                    error=type(exc).__name__))

    async def _record(self, row: dict[str, Any], channel: Channel,
                      error: DeliveryError | None) -> None:
        now = self.clock.now()
        key, target = row["idempotency_key"], row["target"]
        detail: dict[str, Any] = {"target": target, "channel": channel.name,
                                  "channel_type": channel.type, "key": key,
                                  "attempt": row["attempts"]}
        item: dict[str, Any] = {"id": row["id"], "alert_id": row["alert_id"],
                                "incident_id": row["incident_id"], "at": now.isoformat()}
        if error is None:
            self.cooling.pop(target, None)
            outcome = "sent"
            item |= {"kind": "notified", "state": "sent", "sent_at": now.isoformat(),
                     "next": None, "error": None}
        else:
            message = scrub(str(error))[:500]
            final = not error.retryable or row["attempts"] >= self.cfg.max_attempts
            outcome = "dead" if final else "retry"
            if error.retryable:
                self.cooling[target] = now + timedelta(seconds=self.cfg.backoff_initial)
            retry_at = now + timedelta(seconds=backoff(self.cfg, row["attempts"]))
            item |= {"kind": "delivery_dead" if final else "delivery_failed",
                     "state": "dead" if final else "pending", "sent_at": None,
                     "next": retry_at.isoformat(), "error": message}
            detail |= {"error": message, "retry_at": None if final else retry_at.isoformat()}
        item["detail"] = detail
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._results.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_results())
        await done   # the slot stays taken until the result is committed
        self.metrics.notifications.labels(target, channel.name, outcome).inc()
        self.states.update(f"target:{target}", "ok" if error is None else "failing",
                           "notification target state changed", target=target,
                           channel=channel.name)

    async def _execute(self, statement: str, params: dict[str, Any]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(statement, params)

    async def _write_results(self) -> None:
        """Write every result waiting, in batches; each waiter learns how its write went."""
        while self._results:
            batch = self._results[:_RECORD_BATCH]
            del self._results[:_RECORD_BATCH]
            rows = [{**item, "n": n} for n, (item, _) in enumerate(batch)]
            try:
                await bounded(self._execute(_RECORD, {"rows": json.dumps(rows)}),
                              self.op_timeout)
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
