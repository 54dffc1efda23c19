"""How short a rule's windows may get in a compressed-timing overlay (``vigil up --fast``).

A rate or increase over a window shorter than about two collector intervals sees no change
in some windows and a step in others, so the value goes 0 or NaN between steps and an alert
resolves and re-pages every interval (#15 item 13: 1m windows over the 60 s collectors).
The overlay therefore never makes a window shorter than ``FACTOR`` x the longest interval of
the exporter collectors whose metrics the rule reads, directly or through recording rules.
The intervals come from the exporter's own built-in collector specs, so a new collector or
a new rules file is covered without a list to maintain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

FACTOR = 2.5
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_HIST = ("_bucket", "_count", "_sum")


def metric_intervals(collector_intervals: Mapping[str, float] | None = None
                     ) -> dict[str, float]:
    """Exporter metric name (histograms: also _bucket, _count, _sum) -> the interval of the
    built-in collector that produces it. ``collector_intervals`` overrides intervals by
    collector name (a test exporter running every second); default: the built-in defaults."""
    from exporter.collectors.builtin import builtin_specs
    from exporter.config import ExporterConfig

    out: dict[str, float] = {}
    for spec in builtin_specs(ExporterConfig(targets=())):
        interval = (collector_intervals or {}).get(spec.name, spec.interval)
        for m in spec.metrics:
            for name in (m.name, *(m.name + s for s in _HIST)):
                out[name] = max(out.get(name, 0.0), interval)
    return out


def names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression outside string literals (metric and rule names,
    plus function names and keywords, which match nothing)."""
    return set(_NAME.findall(_STRING.sub(" ", expr)))


def floors(rules: Iterable[Mapping[str, Any]], intervals: Mapping[str, float],
           factor: float = FACTOR) -> dict[int, float]:
    """id(rule) -> the shortest window (seconds) its expression may use; recording rules
    pass their inputs' intervals on to the rules that read them."""
    rules = list(rules)
    recorded: dict[str, float] = {}
    for _ in range(len(rules) + 1):  # to a fixed point: recording rules may chain
        changed = False
        for rule in rules:
            name = rule.get("record")
            if not name:
                continue
            need = _interval(str(rule["expr"]), intervals, recorded)
            if need > recorded.get(name, 0.0):
                recorded[name] = need
                changed = True
        if not changed:
            break
    return {id(r): factor * _interval(str(r["expr"]), intervals, recorded) for r in rules}


def _interval(expr: str, intervals: Mapping[str, float], recorded: Mapping[str, float]
              ) -> float:
    return max((intervals.get(n, recorded.get(n, 0.0)) for n in names(expr)), default=0.0)
