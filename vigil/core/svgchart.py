"""Line charts as inline SVG, drawn on the server: no script, no chart library, no style
attribute (a strict CSP allows neither), presentation attributes only. The daily report and
the console's overview both draw with it.

Each series is a polyline (broken where the samples have a gap, a lone sample a dot), the
threshold a dashed red line, the y axis from 0 to a little above the highest value or
threshold; an empty chart says so.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from html import escape

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 600, 180, 64, 34, 22, 10
COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")

Points = Sequence[Sequence[float]]          # [(unix time, value)]
Series = tuple[str, Points]                 # (legend, points)


def chart(title: str, series: Sequence[Series], start: float, end: float, *,
          fmt: Callable[[float], str], threshold: float | None = None,
          ticks: Sequence[tuple[float, str]] = (), no_data: str = "no data",
          break_gaps: bool = True, draw_title: bool = True) -> str:
    """``fmt`` writes a value (axis, threshold); ``ticks`` are (time, label) on the x axis;
    ``break_gaps`` False joins samples across missing steps (a live range query whose
    source is scraped less often than the step); ``draw_title`` False leaves the title to a
    caption outside the chart (the console's figures), which would otherwise show it twice:
    it then only names the image for screen readers (``aria-label``)."""
    values = [v for _, pts in series for _, v in pts if math.isfinite(v)]
    top = max([*values, threshold or 0.0, 0.0]) * 1.15 or 1.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    span = max(end - start, 1.0)

    def xy(t: float, v: float) -> tuple[float, float]:
        return PAD_L + (t - start) / span * plot_w, PAD_T + plot_h - v / top * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
           f'height="{H}" role="img" aria-label="{escape(title)}">',
           f'<rect x="{PAD_L}" y="{PAD_T}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
           'stroke="#ccc"/>']
    if draw_title:
        out.append(f'<text x="{PAD_L}" y="14" font-size="12">{escape(title)}</text>')
    for frac in (0.0, 0.5, 1.0):
        out.append(f'<text x="{PAD_L - 4}" y="{xy(start, top * frac)[1] + 4:.1f}" '
                   f'text-anchor="end" font-size="11" fill="#555">{escape(fmt(top * frac))}'
                   "</text>")
    for t, label in ticks:
        out.append(f'<text x="{xy(t, 0)[0]:.1f}" y="{H - PAD_B + 14}" text-anchor="middle" '
                   f'font-size="11" fill="#555">{escape(label)}</text>')
    if threshold is not None:
        y = xy(start, threshold)[1]
        out.append(f'<line class="threshold" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" '
                   f'y2="{y:.1f}" stroke="#d62728" stroke-dasharray="6 4"/>'
                   f'<text x="{W - PAD_R - 4}" y="{y - 4:.1f}" text-anchor="end" '
                   f'font-size="11" fill="#d62728">threshold {escape(fmt(threshold))}</text>')
    step = min((b[0] - a[0] for _, pts in series for a, b in itertools.pairwise(pts)),
               default=0.0) if break_gaps else 0.0
    for i, (legend, pts) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        for run in _runs(pts, step):
            at = [xy(t, v) for t, v in run]
            if len(at) > 1:
                out.append(f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in at)}" '
                           f'fill="none" stroke="{color}" stroke-width="2">'
                           f"<title>{escape(legend)}</title></polyline>")
            else:
                out.append(f'<circle cx="{at[0][0]:.1f}" cy="{at[0][1]:.1f}" r="2" '
                           f'fill="{color}"><title>{escape(legend)}</title></circle>')
        out.append(f'<text x="{PAD_L + 150 * (i % 4)}" y="{H - 4}" font-size="10" '
                   f'fill="{color}">{escape(legend)}</text>')
    if not values:
        out.append(f'<text x="{PAD_L + plot_w / 2}" y="{PAD_T + plot_h / 2}" '
                   f'text-anchor="middle" font-size="13" fill="#888">{escape(no_data)}</text>')
    out.append("</svg>")
    return "".join(out)


def _runs(pts: Points, step: float) -> list[list[Sequence[float]]]:
    """The points split where a sample is missing (more than 1.5 steps apart, unless step is
    0) or not finite."""
    runs: list[list[Sequence[float]]] = [[]]
    last: float | None = None
    for p in pts:
        if not math.isfinite(p[1]) or (last is not None and step and p[0] - last > step * 1.5):
            runs.append([])
        if math.isfinite(p[1]):
            runs[-1].append(p)
            last = p[0]
    return [r for r in runs if r]
