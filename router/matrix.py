"""The escalation matrix as behaviour: which level an alert gets and what it schedules.

When an alert is first seen, its level's plan is written to the database as
rows (steps, notices, the SLA check), so a config change never rewrites an
escalation already running and a restart finds every timer where it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from router.config import DEFAULT_STALE_AFTER, LEVELS, Escalation
from router.oncall.model import Oncall


@dataclasses.dataclass(frozen=True)
class Planned:
    kind: str            # "step" (stopped by ack), "notice" (always sent), "sla" (ack deadline)
    step_no: int         # 1-based order of steps (repeats continue the count) or of notices
    delay: float
    targets: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SeverityResult:
    level: str
    raw: str | None
    fallback: bool       # the label was missing or unknown, the default was used


class Matrix:
    def __init__(self, esc: Escalation, oncall: Oncall | None = None) -> None:
        self.esc = esc
        self.oncall = oncall or Oncall()   # the schedules targets may name
        self._map = {k.lower(): v for k, v in esc.severity.mapping.items()}
        for level in LEVELS:
            self._map.setdefault(level.lower(), level)

    def severity(self, labels: Mapping[str, str]) -> SeverityResult:
        raw = labels.get(self.esc.severity.label)
        level = self._map.get(raw.strip().lower()) if isinstance(raw, str) else None
        if level is None:
            return SeverityResult(self.esc.severity.default, raw, True)
        return SeverityResult(level, raw, False)

    def response_time(self, level: str) -> float:
        return float(self.esc.levels[level].response_time)

    def plan(self, level: str) -> list[Planned]:
        lv = self.esc.levels[level]
        out = [Planned("step", i + 1, s.delay, s.targets) for i, s in enumerate(lv.steps)]
        last = lv.steps[-1]
        for r in range(1, lv.repeat.times + 1):
            out.append(Planned("step", len(lv.steps) + r, last.delay + r * lv.repeat.interval,
                               last.targets))
        out.extend(Planned("notice", i + 1, n.delay, n.targets) for i, n in enumerate(lv.notices))
        out.append(Planned("sla", 0, lv.response_time, ()))
        return out

    def channel_of(self, target: str) -> str:
        return self.esc.targets[target].channel

    def notify_on_resolve(self, level: str) -> bool:
        return self.esc.levels[level].notify_on_resolve

    def stale_after(self, level: str) -> float:
        """Seconds without a sighting after which an open or acked alert is resolved."""
        value = self.esc.levels[level].stale_after
        return float(DEFAULT_STALE_AFTER[level] if value is None else value)
