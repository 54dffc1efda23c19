"""router.yml's sections for how the router runs: where it listens, its database, the
webhook's limit, the engine's and the outbox's pace, and how long raw payloads are kept."""

from __future__ import annotations

import dataclasses

from vigil.core import listen
from vigil.core.config import Seconds, Secret


@dataclasses.dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 18091


def parse_listen_address(address: str) -> Listen:
    """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces), as ``vigil exporter``'s
    ``--web.listen-address`` takes it (vigil.core.listen)."""
    return Listen(*listen.parse(address))


@dataclasses.dataclass(frozen=True)
class Database:
    dsn: Secret
    pool_min: int = 2
    pool_max: int = 10
    connect_timeout: Seconds = 5.0
    pool_timeout: Seconds = 5.0          # waiting for a connection: then 503
    statement_timeout: Seconds = 10.0    # server side: a slow query
    # Client side (router/health.py): one unit of database work (a request's queries, a
    # tick's statement, a claim) is abandoned after op_timeout, whatever the network does.
    op_timeout: Seconds = 12.0
    # libpq: a peer that stops ACKing is dead after tcp_user_timeout; an idle connection is
    # probed after keepalives_idle (then every third of it, three times).
    tcp_user_timeout: Seconds = 10.0
    keepalives_idle: Seconds = 10.0
    reconnect_timeout: Seconds = 300.0   # the pool's: then it gives up a slot and retries later


@dataclasses.dataclass(frozen=True)
class Webhook:
    max_body_bytes: int = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Engine:
    tick_interval: Seconds = 0.5
    batch_size: int = 1000
    # /-/ready answers 503 once the engine or the outbox sender has not succeeded for this
    # long (a frozen connection, an outage), not only when a fresh connection fails.
    stall_after: Seconds = 4.0
    # An on-call hand-off is announced by a tick at most this long after it: a router started
    # mid-shift doesn't announce a shift that began days ago (router/oncall/handoff.py).
    handoff_notice_window: Seconds = 3600.0


@dataclasses.dataclass(frozen=True)
class Outbox:
    poll_interval: Seconds = 0.5         # longest wait for new work when nothing wakes us
    concurrency: int = 64                # deliveries in flight
    per_target_concurrency: int = 16     # of which one target may hold at most this many
    max_attempts: int = 8
    backoff_initial: Seconds = 1.0
    backoff_max: Seconds = 300.0
    lease: Seconds = 60.0                # a claimed delivery is retried after this if we die


@dataclasses.dataclass(frozen=True)
class Retention:
    raw_payloads: Seconds = 7 * 86400.0
    max_raw_payloads: int = 100_000
