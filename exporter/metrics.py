"""The store as metric families: a prometheus_client custom Collector over a per-app
registry, yielding fresh families from the snapshot (``snapshot.py``) on every collect."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from exporter.db import DOWN_REASONS, REASONS
from exporter.snapshot import Store


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
