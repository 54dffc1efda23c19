"""The overview's charts: the last hours up to now, values in their unit (vigil/core/svgchart).

Each chart sits in a figure whose caption is its title (a link to its runbook section), so
the chart does not draw the title again."""

from __future__ import annotations

from collections.abc import Sequence

from vigil.core import svgchart

Series = svgchart.Series


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        if value >= 1:
            return f"{value:.2f}s"
        return f"{value * 1000:.1f}ms"
    if unit == "ratio":
        return f"{value * 100:.0f}%"
    return f"{value:.3g}"


def chart(title: str, series: Sequence[Series], start: float, end: float, *,
          threshold: float | None = None, unit: str = "") -> str:
    hours = (end - start) / 3600
    return svgchart.chart(title, series, start, end, threshold=threshold,
                          fmt=lambda v: fmt(v, unit),
                          ticks=[(start, f"-{hours:.0f}h"), (end, "now")], break_gaps=False,
                          draw_title=False)
