"""vigil/core/svgchart: the one inline SVG chart. The daily report's plots carry their title
inside the SVG (a report page has no other caption); a caller that captions the chart itself
(the console's overview) can leave it out, so the title is not shown twice."""

from __future__ import annotations

import re

from vigil.core import svgchart
from vigil.report.svg import line_plot

SERIES = [("db1", [(0.0, 0.004), (60.0, 0.02)])]


def _drawn_text(doc: str) -> list[str]:
    return re.findall(r"<text [^>]*>([^<]*)</text>", doc)


def test_a_chart_draws_its_title_by_default() -> None:
    doc = svgchart.chart("Audit <p95>", SERIES, 0.0, 60.0, fmt=str)
    assert "Audit &lt;p95&gt;" in _drawn_text(doc)


def test_a_captioned_chart_leaves_the_title_to_its_caption_but_still_names_the_image() -> None:
    doc = svgchart.chart("Audit <p95>", SERIES, 0.0, 60.0, fmt=str, draw_title=False)
    assert not any("Audit" in t for t in _drawn_text(doc))
    assert 'aria-label="Audit &lt;p95&gt;"' in doc         # screen readers still hear it
    assert "<polyline" in doc and ">db1<" in doc             # the rest is drawn as before


def test_the_daily_reports_plots_keep_their_titles() -> None:
    doc = line_plot("Audit write latency p95", {"demo": [(0.0, 0.004), (3600.0, 0.02)]},
                    0.0, 86400.0, threshold=0.01)
    assert "Audit write latency p95" in _drawn_text(doc)
