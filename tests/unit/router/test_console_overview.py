"""The overview's pieces without Prometheus: the SVG chart and the runbook links."""

from __future__ import annotations

import re

from router.console import overview, runbook, svg


def test_a_chart_draws_each_series_and_the_threshold_without_style_or_script() -> None:
    doc = svg.chart("Audit <p95>", [("db1", [(0.0, 0.004), (60.0, 0.02)]),
                                    ("db2", [(0.0, 0.001), (60.0, float("nan"))])],
                    0.0, 60.0, threshold=0.01, unit="s")
    assert doc.startswith("<svg") and doc.count("<polyline") == 2
    assert "threshold 10.0ms" in doc and "Audit &lt;p95&gt;" in doc
    assert "style=" not in doc and "<script" not in doc


def test_an_empty_chart_says_no_data() -> None:
    assert "no data" in svg.chart("x", [], 0.0, 3600.0, threshold=0.05, unit="s")


def test_every_panel_links_to_a_runbook_section_that_exists() -> None:
    page = runbook.render()
    assert page is not None
    anchors = set(re.findall(r'id="([^"]+)"', page))
    panels = (*overview.THRESHOLDS, *overview.SIGNALS)
    assert {p.runbook for p in panels} <= anchors
    assert {"rls-optimization", "encryption-performance", "audit-performance"} == \
        {p.runbook for p in overview.THRESHOLDS}
