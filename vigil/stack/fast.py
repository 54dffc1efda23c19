"""``vigil up --fast``: demo timings that page within a minute and don't flap.

Worst case from a fault to a page, each term the longest wait it can add:

    collector interval (the exporter sees the fault)      FAST_COLLECTOR     10 s
  + scrape interval (Prometheus has the sample)           FAST_INTERVAL       5 s
  + two evaluations (recording rule, then the alert)      2 x FAST_INTERVAL  10 s
  + for: (capped), then the evaluation that ends it       FAST_FOR + 5 s     20 s
  + Alertmanager's group_wait                             FAST_GROUP_WAIT     5 s
  + the router's tick and the delivery                                       ~1 s
                                                                             ~51 s

The real exporter collects rls, encryption and security every 60 s, which alone can eat the
minute (#11: 2 of 6 faults took 65-68 s), so --fast runs the collectors every 10 s too, and
the overlay's windows are floored for those intervals (vigil/stack/rulefloor.py). An alert
whose value dips for one evaluation (no encryption operation in a window: p95 is NaN) keeps
firing for FAST_KEEP_FIRING instead of resolving and paging again.
tests/unit/vigil/test_fast_timings.py recomputes this bound from the generated configs.
"""

from __future__ import annotations

from typing import Any

from vigil.core import durations
from vigil.stack import ruleoverlay, timings
from vigil.stack.plan import Layout, repo_root

FAST_FOR = "15s"            # 3 evaluations over 2 collections: one slow sample doesn't page
FAST_WINDOW = "1m"
FAST_INTERVAL = "5s"        # scrape and evaluation
FAST_GROUP_WAIT = "5s"
FAST_GROUP_INTERVAL = "10s"
FAST_COLLECTOR = "10s"
FAST_KEEP_FIRING = "30s"
# Collectors left at their own interval: not behind any demo fault, and costly (indexes).
SLOW_COLLECTORS = frozenset({"indexes", "maintenance"})


def collector_intervals() -> dict[str, float]:
    from exporter.config import BUILTIN_COLLECTORS

    every = durations.parse_prometheus(FAST_COLLECTOR)
    return {name: every for name in BUILTIN_COLLECTORS if name not in SLOW_COLLECTORS}


def options(layout: Layout) -> dict[str, Any]:
    """Stack options: the rule overlay, and Prometheus, Alertmanager and exporter overrides.

    The rules are derived from prometheus/rules/ by the same overlay the end-to-end tests
    use, so the demo timings can't drift from the real rules.
    """
    rules_dir = layout.generated / timings.FAST_RULES_DIR
    intervals = collector_intervals()
    written = ruleoverlay.compressed_rules(repo_root() / "prometheus" / "rules", rules_dir,
                                           for_=FAST_FOR, window=FAST_WINDOW,
                                           collector_intervals=intervals,
                                           keep_firing_for=FAST_KEEP_FIRING)

    def prometheus(data: dict[str, Any]) -> None:
        glob = data.setdefault("global", {})
        glob.update(scrape_interval=FAST_INTERVAL, evaluation_interval=FAST_INTERVAL,
                    scrape_timeout="4s")
        for sc in data.get("scrape_configs") or []:
            for key in ("scrape_interval", "scrape_timeout"):
                sc.pop(key, None)

    def alertmanager(data: dict[str, Any]) -> None:
        def walk(route: dict[str, Any]) -> None:
            route["group_wait"] = FAST_GROUP_WAIT
            route["group_interval"] = FAST_GROUP_INTERVAL
            for child in route.get("routes") or []:
                walk(child)

        walk(data.setdefault("route", {}))

    def exporter(data: dict[str, Any]) -> None:
        collectors = data.setdefault("collectors", {})
        for name, seconds in intervals.items():
            entry = collectors.setdefault(name, {})
            if isinstance(entry, dict):
                entry["interval"] = durations.format(seconds)

    return {"rule_files": tuple(str(p) for p in written),
            "prometheus_overrides": prometheus, "alertmanager_overrides": alertmanager,
            "exporter_overrides": exporter}
