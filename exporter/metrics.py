"""The snapshot: what the last collections found, per target, and how to turn it into
metric families (a prometheus_client custom Collector over a per-app registry).

Snapshot semantics: a successful run replaces its collector's whole label set; a failed run
keeps the last values and flips ``vigil_collector_success`` to 0. Histograms accumulate
observations (one per database row, see the watermark in ``state.py``).
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from exporter.collectors.spec import CollectorSpec, MetricSpec
from exporter.db import DOWN_REASONS, REASONS

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


def _go_float(b: float) -> str:
    """Bucket bounds as Go formats them: 1.0 -> "1.0", 0.005 -> "0.005"."""
    return repr(float(b))


POOL_GAUGES = (
    ("vigil_pool_size", "pool_size", "Connections the pool holds or is opening"),
    ("vigil_pool_available", "pool_available", "Idle connections ready in the pool"),
    ("vigil_pool_max", "pool_max", "Upper bound on the pool's connections (pool.max_size)"),
    ("vigil_pool_requests_waiting", "requests_waiting", "Collector runs waiting for a connection"),
)
POOL_COUNTERS = (
    ("vigil_pool_requests_total", "requests_num", "Connection requests made to the pool", 1),
    ("vigil_pool_requests_errors_total", "requests_errors",
     "Connection requests that failed (pool timeout or queue full)", 1),
    ("vigil_pool_requests_wait_seconds_total", "requests_wait_ms",
     "Total time collector runs waited for a connection", 1000),
    ("vigil_pool_connections_total", "connections_num", "Connection attempts to the target", 1),
    ("vigil_pool_connection_errors_total", "connections_errors",
     "Failed connection attempts to the target", 1),
    ("vigil_pool_connections_lost_total", "connections_lost",
     "Connections found broken when returned to the pool", 1),
)
SELF_HELP = " (psycopg_pool get_stats())"


class StoreCollector(Collector):
    """Yields fresh families from the store on every collect(): no state carries over."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        yield from self._data()
        yield from self._self()

    def _data(self) -> Iterator[Metric]:
        targets = list(self.store.targets.values())
        for name, spec in self.store.specs.items():
            labels = ["target", *spec.labels]
            fam: GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily
            if spec.type == "histogram":
                hfam = HistogramMetricFamily(name, spec.help, labels=labels)
                bounds = [_go_float(b) for b in spec.buckets] + ["+Inf"]
                for t in targets:
                    for lv, s in sorted(t.hist.get(name, {}).items()):
                        cum, acc = [], 0
                        for b, c in zip(bounds, s.counts, strict=True):
                            acc += c
                            cum.append((b, float(acc)))
                        hfam.add_metric([t.name, *lv], cum, s.sum)
                fam = hfam
            else:
                if spec.type == "counter":
                    fam = CounterMetricFamily(name, spec.help, labels=labels)
                elif spec.type == "stateset":
                    fam = GaugeMetricFamily(name, spec.help, labels=[*labels, "state"])
                else:
                    fam = GaugeMetricFamily(name, spec.help, labels=labels)
                for t in targets:
                    for collector_samples in t.samples.values():
                        for lv, v in collector_samples.get(name, {}).items():
                            fam.add_metric([t.name, *lv], v)
            yield fam

    def _self(self) -> Iterator[Metric]:
        targets = list(self.store.targets.values())
        up = GaugeMetricFamily("vigil_up", "1 if the exporter reached the target's PostgreSQL "
                               "on its last attempt, 0 if it could not connect or got no answer",
                               labels=["target"])
        why = GaugeMetricFamily("vigil_down_reason",
                                "1 for the reason vigil_up is 0: auth (credentials rejected), "
                                "unreachable (refused/reset), timeout (no answer), rejected "
                                "(server said no: database missing, too many clients), dsn "
                                "(malformed), other; all 0 while up",
                                labels=["target", "reason"])
        ok = GaugeMetricFamily("vigil_collector_success",
                               "1 if the collector's last run succeeded, 0 if it failed "
                               "(its metrics then keep the last good values)",
                               labels=["target", "collector"])
        dur = GaugeMetricFamily("vigil_collector_duration_seconds",
                                "Wall time of the collector's last run",
                                labels=["target", "collector"])
        last = GaugeMetricFamily("vigil_collector_last_success_timestamp_seconds",
                                 "Unix time of the collector's last successful run",
                                 labels=["target", "collector"])
        errs = CounterMetricFamily("vigil_collector_errors_total",
                                   "Failed collector runs by reason: timeout, connection, "
                                   "query, missing_object (run `vigil db install`), "
                                   "row_limit (custom query over limits.max_rows) or probe "
                                   "(a built-in measurement could not measure)",
                                   labels=["target", "collector", "reason"])
        dropped = CounterMetricFamily("vigil_series_dropped_total",
                                      "Series (or histogram observations) dropped because the "
                                      "metric reached its series cap",
                                      labels=["target", "metric"])
        skipped = CounterMetricFamily("vigil_values_skipped_total",
                                      "Query values skipped because they were NULL, NaN or "
                                      "not a number", labels=["target", "metric", "reason"])
        for t in targets:
            if t.up is not None:
                up.add_metric([t.name], t.up)
                for r in DOWN_REASONS:
                    why.add_metric([t.name, r], float(t.down_reason == r))
            for c, st in sorted(t.status.items()):
                if st.success is not None:
                    ok.add_metric([t.name, c], st.success)
                    dur.add_metric([t.name, c], st.duration)
                if st.last_success is not None:
                    last.add_metric([t.name, c], st.last_success)
                for reason in REASONS:
                    errs.add_metric([t.name, c, reason], st.errors[reason])
            for m, n in sorted(t.dropped.items()):
                dropped.add_metric([t.name, m], n)
            for (m, reason), n in sorted(t.skipped.items()):
                skipped.add_metric([t.name, m, reason], n)
        yield from (up, why, ok, dur, last, errs, dropped, skipped)
        for name, key, text in POOL_GAUGES:
            g = GaugeMetricFamily(name, text + SELF_HELP, labels=["target"])
            for t in targets:
                if t.pool:
                    g.add_metric([t.name], t.pool.get(key, 0))
            yield g
        for cname, ckey, ctext, div in POOL_COUNTERS:
            cf = CounterMetricFamily(cname, ctext + SELF_HELP, labels=["target"])
            for t in targets:
                if t.pool:
                    cf.add_metric([t.name], t.pool.get(ckey, 0) / div)
            yield cf
