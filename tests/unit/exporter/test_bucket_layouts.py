"""The latency histograms resolve the runbook thresholds and the normal range below them."""

from __future__ import annotations

import bisect
import random
import re
from pathlib import Path

import pytest

from exporter.collectors.builtin import LATENCY_BUCKETS, builtin_specs
from exporter.config import BUILTIN_COLLECTORS, build_config

REPO = Path(__file__).resolve().parents[3]
THRESHOLDS = (0.01, 0.1)  # audit write, PHI query and encryption operation (seconds)


def histogram_quantile(q: float, bounds: tuple[float, ...], counts: list[int]) -> float:
    """Prometheus's estimate: linear interpolation inside the bucket holding rank q*n
    (the lowest bucket interpolates from 0), cumulative counts, the last slot +Inf."""
    cumulative = [sum(counts[: i + 1]) for i in range(len(counts))]
    rank = q * cumulative[-1]
    i = bisect.bisect_left(cumulative, rank)
    if i == len(bounds):
        return bounds[-1]
    lower = 0.0 if i == 0 else bounds[i - 1]
    below = 0 if i == 0 else cumulative[i - 1]
    return lower + (bounds[i] - lower) * (rank - below) / (cumulative[i] - below)


def observe(values: list[float], bounds: tuple[float, ...]) -> list[int]:
    counts = [0] * (len(bounds) + 1)
    for v in values:  # as exporter/collectors/run.py: the first bound >= v
        counts[bisect.bisect_left(bounds, v)] += 1
    return counts


def true_p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * len(values)) - 1]


@pytest.mark.parametrize("p95_ms", [0.3, 0.8, 1.6, 4.0, 8.0, 30.0, 80.0, 150.0])
def test_an_estimated_p95_is_within_a_third_of_the_true_one(p95_ms: float) -> None:
    rng = random.Random(p95_ms)
    # A log-normal spread around the p95 (a latency's usual shape), 10,000 observations.
    values = [p95_ms / 1000 * rng.lognormvariate(0, 0.3) / 1.64 for _ in range(10_000)]
    true = true_p95(values)
    estimate = histogram_quantile(0.95, LATENCY_BUCKETS, observe(values, LATENCY_BUCKETS))
    assert abs(estimate - true) / true < 1 / 3, (p95_ms, true, estimate)


def test_the_runbook_thresholds_are_bounds_and_the_range_is_sub_millisecond_to_seconds() -> None:
    assert all(t in LATENCY_BUCKETS for t in THRESHOLDS)
    assert LATENCY_BUCKETS[0] <= 0.0001 and LATENCY_BUCKETS[-1] >= 5.0
    assert list(LATENCY_BUCKETS) == sorted(set(LATENCY_BUCKETS))


def test_every_latency_histogram_uses_the_layout_and_the_docs_list_it() -> None:
    specs = builtin_specs(build_config({"targets": [{"name": "db", "dsn": "host=x"}]}))
    hists = [m for s in specs for m in s.metrics if m.type == "histogram"
             and s.name in BUILTIN_COLLECTORS]
    assert {m.name for m in hists} == {"vigil_audit_write_duration_seconds",
                                      "vigil_phi_query_duration_seconds",
                                      "vigil_encryption_duration_seconds"}
    assert all(m.buckets == LATENCY_BUCKETS for m in hists)
    listed = " ".join(f"{b:g}".removeprefix("0") for b in LATENCY_BUCKETS)
    for doc in ("docs/metrics.md", "docs/CONTRACTS.md"):
        text = (REPO / doc).read_text()
        assert f"`{listed}`" in re.sub(r"\s+", " ", text), doc
