"""Where an alert rule's expression is split into the series and its threshold
(router/alert_metrics.py): the top-level comparison, outside strings, braces and brackets."""

from __future__ import annotations

import pytest

from router.alert_metrics import split_comparison


@pytest.mark.parametrize(("expr", "want"), [
    ("vigil_rls_overhead_seconds > 0.05", ("vigil_rls_overhead_seconds", ">", "0.05")),
    ('up{job="vigil-exporter"} == 0', ('up{job="vigil-exporter"}', "==", "0")),
    ("a > on() group_left() vigil:policy:x", ("a", ">", "vigil:policy:x")),
    ("r:rate5m > 0.1 and r:rate5m > 3 * (b offset 5m or r:rate5m * 0)",
     ("r:rate5m", ">", "0.1")),
    ('sum by (job) (increase(x{a=~"b>c"}[15m])) >= 1',
     ('sum by (job) (increase(x{a=~"b>c"}[15m]))', ">=", "1")),
    ("absent(vigil_up)", None),
])
def test_split_comparison(expr: str, want: tuple[str, str, str] | None) -> None:
    assert split_comparison(expr) == want
