"""An alert's metric history, for its context: the rule that fired it and the values of the
rule's expression against its threshold over the last hours, read from Prometheus.

The rule is found by alertname in Prometheus ``/api/v1/rules``; its expression is split at
its top-level comparison (``vigil_rls_overhead_seconds > 0.05``: left side, operator,
threshold). The left side is range-queried; its series are kept when their labels agree with
the alert's (the alert's labels are the series' plus the rule's). A threshold that is itself
an expression (``> on() group_left() vigil:policy:...``) is range-queried too. Prometheus
being down or unconfigured is part of the answer, never an error of the request.

Prometheus is read through the router's one way to read it (router/prom.py), with a timeout
well under the request's bound (router.database.op_timeout).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from router import prom
from vigil.core.prom import Prom, PrometheusUnavailable

TIMEOUT = 3.0            # each Prometheus call; two or three per context
DEADLINE = 7.0           # all of them: the request's own bound (op_timeout, 12 s) is for the DB
MAX_POINTS = 60          # per series: a table a person can read, a step Prometheus accepts
MAX_SERIES = 5
_COMPARE = ("==", "!=", ">=", "<=", ">", "<")
_SET_OPS = re.compile(r"\b(and|or|unless)\b")
_MODIFIERS = re.compile(r"^\s*(bool\b)?\s*((on|ignoring)\s*\([^)]*\))?\s*"
                        r"((group_left|group_right)\s*(\([^)]*\))?)?\s*")


def _top_level(expr: str) -> list[tuple[int, str]]:
    """(index, char) of the characters outside parentheses, braces, brackets and strings."""
    out: list[tuple[int, str]] = []
    depth, quote, i = 0, "", 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            out.append((i, c))
        i += 1
    return out


def split_comparison(expr: str) -> tuple[str, str, str] | None:
    """(left, operator, right) of the expression's first top-level comparison; the first
    clause of an ``and``/``or``/``unless`` (comparisons bind tighter). None: no comparison
    (``absent(...)``): the whole expression is what to show."""
    top = {i for i, _ in _top_level(expr)}
    flat = "".join(c if i in top else " " for i, c in enumerate(expr))
    m = _SET_OPS.search(flat)
    if m:
        expr, flat = expr[:m.start()], flat[:m.start()]
    for i in range(len(flat)):
        for op in _COMPARE:
            if flat.startswith(op, i) and not (op in (">", "<") and flat.startswith("=", i + 1)):
                left, right = expr[:i].strip(), expr[i + len(op):]
                right = right[_MODIFIERS.match(right).end():].strip()  # type: ignore[union-attr]
                return (left, op, right) if left and right else None
    return None


def crosses(value: float, op: str, threshold: float) -> bool:
    return {"==": value == threshold, "!=": value != threshold, ">=": value >= threshold,
            "<=": value <= threshold, ">": value > threshold, "<": value < threshold}[op]


def _agrees(series: dict[str, str], alert_labels: dict[str, str],
            overridden: dict[str, str]) -> bool:
    """The series is the alert's: every label it has, the alert has with the same value, but
    those the rule sets itself (a rule's ``severity`` replaces the series')."""
    return all(alert_labels.get(k) == v for k, v in series.items()
               if k != "__name__" and k not in overridden)


def _find_rule(groups: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    for group in groups:
        for rule in group.get("rules", []):
            if rule.get("type") == "alerting" and rule.get("name") == name:
                return {"name": name, "group": group.get("name"), "query": rule.get("query"),
                        "duration_seconds": rule.get("duration"), "health": rule.get("health"),
                        "state": rule.get("state"), "labels": rule.get("labels") or {}}
    return None


def _history(client: Prom, alert: dict[str, Any], start: float, end: float,
             step: float) -> dict[str, Any]:
    rule = _find_rule(client.rule_groups(), alert["alertname"])
    if rule is None:
        return {"status": "no_rule", "error": f"Prometheus has no alerting rule named "
                                              f"{alert['alertname']}"}
    parts = split_comparison(str(rule["query"]))
    left, op, right = parts if parts else (str(rule["query"]), None, None)
    threshold: float | None = None
    if right is not None:
        try:
            threshold = float(right)
        except ValueError:
            threshold = None
    limits: dict[float, float] = {}
    if right is not None and threshold is None:
        found = [s for labels, s in client.query_range(right, start, end, step)
                 if _agrees(labels, alert["labels"], rule["labels"])]
        limits = dict(found[0]) if len(found) == 1 else {}
    series = []
    for labels, points in client.query_range(left, start, end, step):
        if not _agrees(labels, alert["labels"], rule["labels"]):
            continue
        values: list[dict[str, Any]] = []
        for t, v in points:
            limit = threshold if threshold is not None else limits.get(t)
            over = (None if op is None or limit is None or math.isnan(v)
                    else crosses(v, op, limit))
            values.append({"at": datetime.fromtimestamp(t, UTC).isoformat(),
                           "value": v, "threshold": limit, "crossed": over})
        finite = [v for _, v in points if not math.isnan(v)]
        series.append({"labels": {k: v for k, v in labels.items() if k != "__name__"},
                       "values": values, "last": finite[-1] if finite else None,
                       "max": max(finite) if finite else None,
                       "min": min(finite) if finite else None,
                       "crossed": sum(1 for p in values if p["crossed"])})
    return {"status": "ok", "rule": rule, "expression": left, "operator": op,
            "threshold": threshold, "threshold_expression": right if threshold is None else None,
            "series": series[:MAX_SERIES], "series_total": len(series)}


async def history(url: str | None, alert: dict[str, Any], now: datetime,
                  hours: float) -> dict[str, Any]:
    """The ``metrics`` section of the context: ``status`` ok, no_rule, unavailable (with
    ``error``) or not_configured; the window ends now, or 15 minutes after the alert
    resolved."""
    if not url:
        return {"status": "not_configured",
                "error": "set prometheus_url in router.yml to see the metric history"}
    end_at = now
    if alert.get("resolved_at") is not None:
        end_at = min(now, alert["resolved_at"] + timedelta(minutes=15))
    end = end_at.timestamp()
    start = end - hours * 3600
    step = max(15.0, math.ceil(hours * 3600 / MAX_POINTS))
    window = {"prometheus_url": url, "start": datetime.fromtimestamp(start, UTC),
              "end": end_at, "step_seconds": step, "hours": hours}
    try:
        doc = await prom.read(url, lambda p: _history(p, alert, start, end, step),
                              call_timeout=TIMEOUT, deadline=DEADLINE)
    except PrometheusUnavailable as exc:
        return {"status": "unavailable", "error": str(exc), **window}
    return {**doc, **window}
