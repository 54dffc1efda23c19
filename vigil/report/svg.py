"""The daily report's plots: one day on the x axis, the threshold drawn in (vigil/core/svgchart)."""

from __future__ import annotations

from collections.abc import Sequence

from vigil.core import svgchart


def _fmt(v: float) -> str:
    return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.0f} s"


def line_plot(title: str, series: dict[str, Sequence[Sequence[float]]], start: float,
              end: float, threshold: float | None) -> str:
    """One plot of the day: each series a polyline, the threshold a dashed red line."""
    return svgchart.chart(title, sorted(series.items()), start, end, fmt=_fmt,
                          threshold=threshold, no_data="NO DATA for this day",
                          ticks=[(start + hour * 3600, f"{hour:02d}h") for hour in range(0, 25, 6)])
