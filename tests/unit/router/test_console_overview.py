"""The console's pieces without a server: the SVG chart, the runbook links, the history filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from multidict import MultiDict

from router.console import overview, runbook, svg
from router.console.history import BadQuery, parse


def test_a_chart_draws_each_series_and_the_threshold_without_style_or_script() -> None:
    doc = svg.chart("Audit <p95>", [("db1", [(0.0, 0.004), (60.0, 0.02)]),
                                    ("db2", [(0.0, 0.001), (60.0, float("nan"))])],
                    0.0, 60.0, threshold=0.01, unit="s")
    # db1 is a line; db2's only finite sample is a dot (a NaN is a gap, not a point)
    assert doc.startswith("<svg") and doc.count("<polyline") == 1
    assert doc.count("<circle") == 1 and "<title>db2</title></circle>" in doc
    assert "threshold 10.0ms" in doc and 'aria-label="Audit &lt;p95&gt;"' in doc
    # The figure's caption shows the title: the chart does not draw it a second time.
    assert ">Audit &lt;p95&gt;</text>" not in doc
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


def test_history_filters_parse_and_bad_ones_name_their_field() -> None:
    allowed = ("alertname", "target")
    p = parse(MultiDict({"name": " Rls ", "level": "P1", "label": "target=db1",
                         "from": "2026-03-01", "to": "2026-03-02", "who": "alice"}), allowed)
    assert (p["name"], p["severity"], p["who"]) == ("Rls", "P1", "alice")
    assert p["labels"].obj == {"target": "db1"}
    assert (p["since"], p["until"]) == (datetime(2026, 3, 1, tzinfo=UTC),
                                        datetime(2026, 3, 3, tzinfo=UTC))   # "to" inclusive
    assert parse(MultiDict(), allowed)["labels"] is None
    for query, field in (({"level": "P9"}, "level"), ({"label": "target"}, "label"),
                         ({"label": "patient=x"}, "label"), ({"from": "01/03/2026"}, "from"),
                         ({"to": "yesterday"}, "to")):
        with pytest.raises(BadQuery) as err:
            parse(MultiDict(query), allowed)
        assert err.value.field == field
