"""The snapshot store: what the last collections found, per target.

Snapshot semantics: a successful run replaces its collector's whole label set; a failed run
keeps the last values and flips the collector's success to 0. Histograms accumulate
observations (one per database row, see the watermark in ``state.py``). Turning the store
into metric families is ``metrics.py``'s job; rendering them, ``exposition.py``'s.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from exporter.collectors.spec import CollectorSpec, MetricSpec

Labels = tuple[str, ...]


@dataclass(frozen=True)
class Mark:
    """Where a watermark query resumes (see ``state.py``).

    Id watermark (custom collectors): rows with id > ``id``. Settled watermark (built-ins):
    rows with (txid, id) > (``txid``, ``id``) whose txid is below the snapshot horizon, and
    whose id is above ``floor`` (an id watermark carried over from a version-1 state file;
    0 otherwise).
    """

    txid: int = 0
    id: int = 0
    floor: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return self.txid, self.id


@dataclass
class HistSeries:
    counts: list[int]          # per bucket, not cumulative; last slot is +Inf
    sum: float = 0.0
    count: int = 0

    @classmethod
    def empty(cls, nbuckets: int) -> HistSeries:
        return cls([0] * (nbuckets + 1))

    def observe(self, slot: int, value: float) -> None:
        self.counts[slot] += 1
        self.sum += value
        self.count += 1

    def add(self, other: HistSeries) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.sum += other.sum
        self.count += other.count


@dataclass
class RunResult:
    """What one successful collector run produced, applied to the store atomically."""

    samples: dict[str, dict[Labels, float]] = field(default_factory=dict)
    hist: dict[str, dict[Labels, HistSeries]] = field(default_factory=dict)
    watermarks: dict[str, Mark] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)


@dataclass
class CollectorStatus:
    success: float | None = None
    duration: float = 0.0
    last_success: float | None = None
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class TargetStore:
    name: str
    up: float | None = None
    down_reason: str | None = None   # one of db.DOWN_REASONS while up == 0
    samples: dict[str, dict[str, dict[Labels, float]]] = field(default_factory=dict)
    hist: dict[str, dict[Labels, HistSeries]] = field(default_factory=dict)
    watermarks: dict[str, Mark] = field(default_factory=dict)
    status: dict[str, CollectorStatus] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    pool: dict[str, int] = field(default_factory=dict)


Persist = Callable[[TargetStore, dict[str, dict[Labels, HistSeries]], dict[str, Mark]], None]


class Store:
    """All targets' snapshots. ``version`` moves whenever something visible changes."""

    def __init__(self, specs: Iterable[CollectorSpec], targets: Iterable[str],
                 clock: Callable[[], float] = time.time) -> None:
        self.specs: dict[str, MetricSpec] = {}
        for c in specs:
            for m in c.metrics:
                self.specs.setdefault(m.name, m)
        self.targets = {t: TargetStore(t) for t in targets}
        self.version = 0
        self.clock = clock

    def _changed(self) -> None:
        self.version += 1

    def register_collector(self, target: str, collector: str) -> None:
        self.targets[target].status.setdefault(collector, CollectorStatus())
        self._changed()

    def set_up(self, target: str, up: bool, reason: str | None = None) -> None:
        t = self.targets[target]
        reason = None if up else (reason or "other")
        if t.up != float(up) or t.down_reason != reason:
            t.up, t.down_reason = float(up), reason
            self._changed()

    def set_pool(self, target: str, stats: dict[str, int]) -> None:
        t = self.targets[target]
        if t.pool != stats:
            t.pool = stats
            self._changed()

    def merged_hist(self, target: str, result: RunResult
                    ) -> tuple[dict[str, dict[Labels, HistSeries]], dict[str, Mark]]:
        """The histogram state after applying ``result`` (nothing is changed yet)."""
        t = self.targets[target]
        hist = {name: dict(series) for name, series in t.hist.items()}
        for name, deltas in result.hist.items():
            cap = self.specs[name].max_series
            merged = hist.setdefault(name, {})
            for labels, delta in deltas.items():
                if labels in merged:
                    s = copy.deepcopy(merged[labels])
                    s.add(delta)
                    merged[labels] = s
                elif len(merged) < cap:
                    merged[labels] = copy.deepcopy(delta)
                else:
                    result.dropped[name] += delta.count
        return hist, {**t.watermarks, **result.watermarks}

    def apply_success(self, target: str, collector: str, result: RunResult, duration: float,
                      persist: Persist | None = None) -> None:
        t = self.targets[target]
        hist, watermarks = self.merged_hist(target, result)
        if persist is not None and (result.hist or result.watermarks):
            persist(t, hist, watermarks)
        t.hist, t.watermarks = hist, watermarks
        t.samples[collector] = result.samples
        t.dropped.update(result.dropped)
        t.skipped.update(result.skipped)
        st = t.status.setdefault(collector, CollectorStatus())
        st.success, st.duration, st.last_success = 1.0, duration, self.clock()
        self._changed()

    def apply_failure(self, target: str, collector: str, reason: str, duration: float) -> None:
        st = self.targets[target].status.setdefault(collector, CollectorStatus())
        st.success, st.duration = 0.0, duration
        st.errors[reason] += 1
        self._changed()
