"""Line charts as inline SVG, drawn on the server: no script, no chart library, no style
attribute (the CSP allows neither inline style nor inline script); presentation attributes
only."""

from __future__ import annotations

import math
from collections.abc import Sequence

from router.console.render import h

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 560, 180, 64, 24, 10, 10
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")

Series = tuple[str, Sequence[tuple[float, float]]]   # (legend, [(unix time, value)])


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
    values = [v for _, pts in series for _, v in pts if math.isfinite(v)]
    top = max([*values, threshold or 0.0, 0.0]) * 1.15 or 1.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    span = max(end - start, 1.0)

    def x(t: float) -> float:
        return PAD_L + (t - start) / span * plot_w

    def y(v: float) -> float:
        return PAD_T + plot_h - v / top * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
           f'height="{H}" role="img" aria-label="{h(title)}">',
           f'<rect x="{PAD_L}" y="{PAD_T}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
           'stroke="#ccc"/>']
    for frac in (0.0, 0.5, 1.0):
        v = top * frac
        out.append(f'<text x="{PAD_L - 4}" y="{y(v) + 4:.1f}" text-anchor="end" '
                   f'font-size="11" fill="#555">{h(fmt(v, unit))}</text>')
    hours = span / 3600
    out.append(f'<text x="{PAD_L}" y="{H - 6}" font-size="11" fill="#555">'
               f'-{hours:.0f}h</text><text x="{W - PAD_R}" y="{H - 6}" text-anchor="end" '
               'font-size="11" fill="#555">now</text>')
    if threshold is not None:
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(threshold):.1f}" '
                   f'y2="{y(threshold):.1f}" stroke="#d62728" stroke-dasharray="6 4"/>'
                   f'<text x="{W - PAD_R - 4}" y="{y(threshold) - 4:.1f}" text-anchor="end" '
                   f'font-size="11" fill="#d62728">threshold {h(fmt(threshold, unit))}</text>')
    for i, (legend, pts) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts if math.isfinite(v))
        if path:
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                       f'stroke-width="2"><title>{h(legend)}</title></polyline>')
    if not values:
        out.append(f'<text x="{PAD_L + plot_w / 2}" y="{PAD_T + plot_h / 2}" '
                   'text-anchor="middle" font-size="13" fill="#888">no data</text>')
    out.append("</svg>")
    return "".join(out)
