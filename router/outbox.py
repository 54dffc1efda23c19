"""The outbox sender: at-least-once delivery with backoff, retries and a dead letter.

``pump`` claims due rows (``FOR UPDATE SKIP LOCKED``) by taking a lease on them,
commits, and hands each to its own task, bounded by ``concurrency``; it never
waits for a delivery, so a hung target holds one slot for at most its
channel's timeout and the others keep flowing. A router killed mid-send loses
only the lease: the row is claimed again when it expires (at-least-once), and
the receiver drops the repeat by its ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import timedelta
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from router.channels import Channel, Delivery, DeliveryError
from router.config import Escalation, Outbox
from router.metrics import Metrics
from vigil.clock import Clock
from vigil.logs import StateLog, fields
from vigil.secrets import scrub

log = logging.getLogger("vigil.router")

_CLAIM = """
UPDATE vigil_router.outbox o SET lease_until = %(lease)s, attempts = o.attempts + 1
WHERE o.id IN (
    SELECT id FROM vigil_router.outbox
    WHERE state = 'pending' AND next_attempt_at <= %(now)s
      AND (lease_until IS NULL OR lease_until <= %(now)s)
    ORDER BY next_attempt_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING o.id, o.idempotency_key, o.alert_id, o.incident_id, o.target, o.channel,
          o.payload, o.attempts
"""


# The result and its timeline row in one statement (one transaction, one round trip).
_RECORD = """
WITH done AS (
    UPDATE vigil_router.outbox
    SET state = %(state)s, sent_at = coalesce(%(sent_at)s, sent_at),
        next_attempt_at = coalesce(%(next)s, next_attempt_at),
        lease_until = NULL, last_error = %(error)s
    WHERE id = %(id)s
)
INSERT INTO vigil_router.events (alert_id, incident_id, at, kind, actor, detail)
VALUES (%(alert_id)s, %(incident_id)s, %(now)s, %(kind)s, NULL, %(detail)s)
"""


def backoff(cfg: Outbox, attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: initial * 2^(attempts-1), capped."""
    return float(min(cfg.backoff_max, cfg.backoff_initial * 2 ** max(attempts - 1, 0)))


class Sender:
    def __init__(self, pool: AsyncConnectionPool[Any], esc: Escalation, *,
                 channels: dict[str, Channel], cfg: Outbox, clock: Clock,
                 metrics: Metrics) -> None:
        self.pool = pool
        self.esc = esc
        self.channels = channels
        self.cfg = cfg
        self.clock = clock
        self.metrics = metrics
        self.inflight: set[asyncio.Task[None]] = set()
        self.states = StateLog(log)

    async def pump(self) -> int:
        """Claim what is due and start sending it; returns the number claimed."""
        free = self.cfg.concurrency - len(self.inflight)
        if free <= 0:
            return 0
        now = self.clock.now()
        # One statement on the autocommit connection: its own transaction.
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_CLAIM, {"now": now, "limit": free,
                                       "lease": now + timedelta(seconds=self.cfg.lease)})
            rows = await cur.fetchall()
        for row in rows:
            task = asyncio.create_task(self._deliver(row))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)
        return len(rows)

    async def drain(self) -> None:
        """Wait for every delivery in flight (tests, shutdown)."""
        while self.inflight:
            await asyncio.gather(*list(self.inflight), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self.inflight):
            task.cancel()
        for task in list(self.inflight):
            with suppress(asyncio.CancelledError):
                await task

    async def _deliver(self, row: dict[str, Any]) -> None:
        channel = self.channels[row["channel"]]
        target = self.esc.targets.get(row["target"])
        d = Delivery(row["idempotency_key"], row["target"], target.to if target else (),
                     row["payload"], row["attempts"])
        error: DeliveryError | None = None
        try:
            await asyncio.wait_for(channel.send(d), timeout=channel.timeout)
        except TimeoutError:
            error = DeliveryError(f"timed out after {channel.timeout:g}s")
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a channel bug must not kill the sender
            error = DeliveryError(f"{type(exc).__name__}")
        try:
            await self._record(row, channel, error)
        except Exception:
            # The lease expires and the row is retried: at-least-once still holds.
            log.warning("could not record a delivery result", extra=fields(
                target=row["target"], key=row["idempotency_key"]))

    async def _record(self, row: dict[str, Any], channel: Channel,
                      error: DeliveryError | None) -> None:
        now = self.clock.now()
        key, target = row["idempotency_key"], row["target"]
        subject = {"alert_id": row["alert_id"], "incident_id": row["incident_id"]}
        detail = {"target": target, "channel": channel.name, "channel_type": channel.type,
                  "key": key, "attempt": row["attempts"]}
        if error is None:
            outcome, kind = "sent", "notified"
            params = {"state": "sent", "sent_at": now, "next": None, "error": None}
        else:
            message = scrub(str(error))[:500]
            final = not error.retryable or row["attempts"] >= self.cfg.max_attempts
            outcome = "dead" if final else "retry"
            kind = "delivery_dead" if final else "delivery_failed"
            retry_at = now + timedelta(seconds=backoff(self.cfg, row["attempts"]))
            params = {"state": "dead" if final else "pending", "sent_at": None,
                      "next": retry_at, "error": message}
            detail = {**detail, "error": message,
                      "retry_at": None if final else retry_at.isoformat()}
        async with self.pool.connection() as conn:
            await conn.execute(_RECORD, {**params, "id": row["id"], "now": now, "kind": kind,
                                         "detail": Jsonb(detail), **subject})
        self.metrics.notifications.labels(target, channel.name, outcome).inc()
        self.states.update(f"target:{target}", "ok" if error is None else "failing",
                           "notification target state changed", target=target,
                           channel=channel.name)
