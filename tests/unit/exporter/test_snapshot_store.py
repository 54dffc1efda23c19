"""exporter/snapshot.py, the snapshot store, and exporter/metrics.py, the collector that turns
it into families.

A successful run replaces its collector's label set, a failed run keeps the last values,
histograms accumulate once per row and stop growing at their series cap.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from exporter.collectors.spec import CollectorSpec, MetricSpec, QuerySpec
from exporter.metrics import StoreCollector
from exporter.snapshot import HistSeries, Mark, RunResult, Store

GAUGE = MetricSpec("app_rows", "gauge", "rows", labels=("table",))
COUNTER = MetricSpec("app_errors_total", "counter", "errors")
STATES = MetricSpec("app_state", "stateset", "state", states=("ok", "bad"))
HIST = MetricSpec("app_seconds", "histogram", "latency", labels=("table",),
                  buckets=(0.1, 1.0), watermark="id", max_series=2)
SPEC = CollectorSpec("app", 15.0, 5.0, 1.0,
                     (QuerySpec("SELECT 1", (GAUGE, COUNTER, STATES)),
                      QuerySpec("SELECT 2", (HIST,))))


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Registry:
    """A fresh CollectorRegistry over the store, read with get_sample_value."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(store))

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def names(self) -> Iterator[str]:
        for family in self.registry.collect():
            for sample in family.samples:
                yield sample.name


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> Store:
    return Store([SPEC], ["db1", "db2"], clock=clock)


def hist(slot: int, value: float, n: int = 1) -> HistSeries:
    series = HistSeries.empty(2)
    for _ in range(n):
        series.observe(slot, value)
    return series


def test_a_successful_run_replaces_the_collectors_whole_label_set(store: Store) -> None:
    reg = Registry(store)
    store.apply_success("db1", "app", RunResult(samples={"app_rows": {("a",): 1.0,
                                                                      ("b",): 2.0}}), 0.1)
    store.apply_success("db1", "app", RunResult(samples={"app_rows": {("b",): 3.0}}), 0.1)
    assert reg.value("app_rows", target="db1", table="a") is None      # vanished
    assert reg.value("app_rows", target="db1", table="b") == 3.0


def test_a_failed_run_keeps_the_last_values_and_reports_why(store: Store,
                                                            clock: FakeClock) -> None:
    reg = Registry(store)
    store.apply_success("db1", "app", RunResult(samples={"app_rows": {("a",): 7.0}}), 0.2)
    clock.now = 2_000.0
    store.apply_failure("db1", "app", "timeout", 5.0)
    assert reg.value("app_rows", target="db1", table="a") == 7.0
    assert reg.value("vigil_collector_success", target="db1", collector="app") == 0.0
    assert reg.value("vigil_collector_duration_seconds", target="db1", collector="app") == 5.0
    assert reg.value("vigil_collector_errors_total", target="db1", collector="app",
                     reason="timeout") == 1.0
    assert reg.value("vigil_collector_errors_total", target="db1", collector="app",
                     reason="query") == 0.0
    assert reg.value("vigil_collector_last_success_timestamp_seconds", target="db1",
                     collector="app") == 1_000.0


def test_histograms_accumulate_observations_and_render_cumulative_buckets(
        store: Store) -> None:
    reg = Registry(store)
    store.apply_success("db1", "app", RunResult(hist={"app_seconds": {("t",): hist(0, 0.05)}}),
                        0.1)
    store.apply_success("db1", "app", RunResult(hist={"app_seconds": {("t",): hist(2, 3.0)}}),
                        0.1)
    labels = {"target": "db1", "table": "t"}
    assert reg.value("app_seconds_bucket", le="0.1", **labels) == 1.0
    assert reg.value("app_seconds_bucket", le="1.0", **labels) == 1.0
    assert reg.value("app_seconds_bucket", le="+Inf", **labels) == 2.0
    assert reg.value("app_seconds_count", **labels) == 2.0
    assert reg.value("app_seconds_sum", **labels) == pytest.approx(3.05)


def test_a_histogram_at_its_series_cap_drops_new_series_and_counts_them(store: Store) -> None:
    reg = Registry(store)
    deltas = {(name,): hist(1, 0.5, n=2) for name in ("a", "b", "c")}
    store.apply_success("db1", "app", RunResult(hist={"app_seconds": deltas}), 0.1)
    assert reg.value("app_seconds_count", target="db1", table="c") is None
    assert reg.value("vigil_series_dropped_total", target="db1", metric="app_seconds") == 2.0
    # an existing series still grows at the cap
    store.apply_success("db1", "app", RunResult(hist={"app_seconds": {("a",): hist(1, 0.5)}}),
                        0.1)
    assert reg.value("app_seconds_count", target="db1", table="a") == 3.0


def test_persist_sees_the_merged_state_before_it_becomes_visible(store: Store) -> None:
    seen: list[tuple[int, Mark]] = []

    def persist(target: object, merged: dict[str, dict[tuple[str, ...], HistSeries]],
                marks: dict[str, Mark]) -> None:
        seen.append((merged["app_seconds"][("t",)].count, marks["app_seconds"]))
        assert store.targets["db1"].hist == {}          # not applied yet

    result = RunResult(hist={"app_seconds": {("t",): hist(0, 0.01)}},
                       watermarks={"app_seconds": Mark(txid=9, id=41)})
    store.apply_success("db1", "app", result, 0.1, persist=persist)
    assert seen == [(1, Mark(txid=9, id=41))]
    assert store.targets["db1"].watermarks["app_seconds"].key == (9, 41)


def test_a_failing_persist_leaves_the_store_unchanged(store: Store) -> None:
    def persist(*args: object) -> None:
        raise OSError("disk full")

    version = store.version
    with pytest.raises(OSError):
        store.apply_success("db1", "app", RunResult(
            hist={"app_seconds": {("t",): hist(0, 0.01)}}), 0.1, persist=persist)
    assert store.targets["db1"].hist == {} and store.version == version


def test_merging_does_not_alias_the_delta_it_was_given(store: Store) -> None:
    delta = hist(0, 0.01)
    store.apply_success("db1", "app", RunResult(hist={"app_seconds": {("t",): delta}}), 0.1)
    delta.observe(0, 0.01)
    assert store.targets["db1"].hist["app_seconds"][("t",)].count == 1


def test_up_and_down_reason_are_one_hot_per_target(store: Store) -> None:
    reg = Registry(store)
    assert reg.value("vigil_up", target="db1") is None         # never tried: no sample
    store.set_up("db1", False, "auth")
    store.set_up("db2", False)
    assert reg.value("vigil_up", target="db1") == 0.0
    assert reg.value("vigil_down_reason", target="db1", reason="auth") == 1.0
    assert reg.value("vigil_down_reason", target="db1", reason="timeout") == 0.0
    assert reg.value("vigil_down_reason", target="db2", reason="other") == 1.0
    store.set_up("db1", True, "auth")
    assert reg.value("vigil_down_reason", target="db1", reason="auth") == 0.0


def test_the_version_moves_only_when_something_visible_changes(store: Store) -> None:
    store.set_up("db1", True)
    version = store.version
    store.set_up("db1", True)
    store.set_pool("db1", {})
    assert store.version == version
    store.set_pool("db1", {"pool_size": 2})
    store.register_collector("db1", "app")
    assert store.version == version + 2


def test_pool_stats_are_exported_per_target_in_base_units(store: Store) -> None:
    reg = Registry(store)
    store.set_pool("db1", {"pool_size": 3, "requests_wait_ms": 1500, "requests_num": 7})
    assert reg.value("vigil_pool_size", target="db1") == 3.0
    assert reg.value("vigil_pool_available", target="db1") == 0.0
    assert reg.value("vigil_pool_requests_wait_seconds_total", target="db1") == 1.5
    assert reg.value("vigil_pool_requests_total", target="db1") == 7.0
    assert reg.value("vigil_pool_size", target="db2") is None


def test_counters_statesets_and_skipped_values_are_exported(store: Store) -> None:
    reg = Registry(store)
    result = RunResult(samples={"app_errors_total": {(): 4.0},
                                "app_state": {("ok",): 1.0, ("bad",): 0.0}})
    result.skipped[("app_rows", "null")] += 2
    store.apply_success("db2", "app", result, 0.1)
    assert reg.value("app_errors_total", target="db2") == 4.0
    assert reg.value("app_state", target="db2", state="ok") == 1.0
    assert reg.value("vigil_values_skipped_total", target="db2", metric="app_rows",
                     reason="null") == 2.0


def test_collect_carries_no_state_between_scrapes(store: Store) -> None:
    reg = Registry(store)
    store.apply_success("db1", "app", RunResult(samples={"app_rows": {("a",): 1.0}}), 0.1)
    first = sorted(reg.names())
    assert first == sorted(reg.names())
    store.apply_success("db1", "app", RunResult(), 0.1)
    assert "app_rows" not in set(reg.names())
