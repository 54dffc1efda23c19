"""Who does what, and when, in the demo's normal workload.

The normal workload must look like ordinary use to vigil's own unusual-pattern rule
(docs/monitoring-schema.md): a population of users, each doing a human-sized share of the
requests, and now and then one of them following a stale link into another tenant (one
denied request). It must never look like an attack, at any ``--rate``:

- Requests go round-robin over the population, which is sized so every actor makes at most
  ``Rule.per_actor_budget`` requests (about half of ``unusual_min_requests``) in any window.
  Rule (b) needs ``unusual_min_requests`` in the window, so it can never be met.
- One denied request every ``denied_every`` seconds, whatever the rate, by the next actor of
  a second rotation. The population is large enough that no actor is picked twice within a
  window: one failure per actor per window, under ``unusual_failed_threshold``.

The schedule never bursts to catch up: when the workload falls more than ``MAX_LAG`` seconds
behind (a slow fault, a key rotation), the missed operations are dropped.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# One denied request per minute across all users: 0.017/s, a third of
# VigilFailedAccessRateHigh's 0.05/s and a sixth of VigilFailedAccessSpike's 0.1/s.
DENIED_EVERY = 60.0
# Seconds the workload may fall behind its schedule before missed operations are dropped.
MAX_LAG = 1.0
MIN_ACTORS_PER_TENANT = 3


@dataclass(frozen=True)
class Rule:
    """The unusual-pattern rule's settings (``vigil_monitor.settings``); defaults as shipped."""

    window: float = 300.0        # unusual_window_seconds
    failed_min: int = 5          # unusual_failed_threshold
    min_requests: int = 50       # unusual_min_requests

    @property
    def per_actor_budget(self) -> int:
        """Requests one actor may make per window: under half of ``min_requests``, leaving
        room for the one denied request it may also make."""
        return max(1, (self.min_requests - 2) // 2)


def population_size(rate: float, tenants: int, rule: Rule,
                    denied_every: float = DENIED_EVERY) -> int:
    """Actors needed so that no one meets the rule; a multiple of ``tenants``."""
    if rate <= 0 or tenants < 1:
        raise ValueError("rate must be > 0 and tenants >= 1")
    ops_per_window = rate * (rule.window + MAX_LAG) + 1
    n = max(MIN_ACTORS_PER_TENANT * tenants, math.ceil(ops_per_window / rule.per_actor_budget))
    if denied_every > 0:  # the denial rotation comes back to an actor only after a window
        n = max(n, math.floor(rule.window / denied_every) + 2)
    return math.ceil(n / tenants) * tenants


@dataclass(frozen=True)
class Step:
    at: float          # when it is due (the caller's clock, seconds)
    tenant: str
    actor: str
    denied: bool       # a cross-tenant attempt instead of an ordinary operation


class Traffic:
    """The normal workload's schedule: ``step = traffic.next(now)``, then sleep until
    ``step.at``. Pure (no I/O, no sleeping), so tests can run hours of it in a moment."""

    def __init__(self, tenants: list[str], rate: float, rule: Rule, start: float, *,
                 denied_every: float = DENIED_EVERY, rng: random.Random | None = None) -> None:
        rng = rng or random.Random()
        size = population_size(rate, len(tenants), rule, denied_every)
        per_tenant = size // len(tenants)
        self.actors = [(t, f"user-{t}-{n}") for t in tenants for n in range(per_tenant)]
        rng.shuffle(self.actors)
        self.rate, self.rule, self.denied_every = rate, rule, denied_every
        self._base, self._k = start, 0
        self._turn = 0
        self._denier = rng.randrange(len(self.actors))
        # The first denial comes early, so even a short run shows one.
        self._next_denial = start + min(denied_every, 1.0) if denied_every > 0 else math.inf

    def next(self, now: float) -> Step:
        at = self._base + self._k / self.rate
        if now - at > MAX_LAG:  # fell behind: drop what was missed instead of bursting
            self._base, self._k, at = now, 0, now
        self._k += 1
        if at >= self._next_denial:
            self._next_denial = at + self.denied_every  # never two within denied_every
            tenant, actor = self.actors[self._denier]
            self._denier = (self._denier + 1) % len(self.actors)
            return Step(at, tenant, actor, True)
        tenant, actor = self.actors[self._turn]
        self._turn = (self._turn + 1) % len(self.actors)
        return Step(at, tenant, actor, False)
