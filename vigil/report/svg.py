"""Inline SVG line plots with the threshold drawn in: no script, no external resource."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from html import escape

W, H, PAD = 640, 160, 36
COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _fmt(v: float) -> str:
    return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.0f} s"


def line_plot(title: str, series: dict[str, Sequence[Sequence[float]]], start: float,
              end: float, threshold: float | None) -> str:
    """One plot: each series a polyline, the threshold a dashed red line, gaps left empty."""
    values = [p[1] for pts in series.values() for p in pts]
    top = max([*values, (threshold or 0) * 1.5, 1e-9])
    sx = (W - 2 * PAD) / (end - start)

    def xy(t: float, v: float) -> str:
        return f"{PAD + (t - start) * sx:.1f},{H - PAD - v / top * (H - 2 * PAD):.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">',
             f'<rect x="0" y="0" width="{W}" height="{H}" fill="#fff" stroke="#ccc"/>',
             f'<text x="{PAD}" y="16" font-size="12">{escape(title)}</text>',
             f'<text x="2" y="{PAD + 4}" font-size="10">{_fmt(top)}</text>',
             f'<text x="2" y="{H - PAD}" font-size="10">0</text>']
    for hour in range(0, 25, 6):
        x = PAD + hour * 3600 * sx
        parts.append(f'<text x="{x - 8:.1f}" y="{H - PAD + 14}" font-size="10">'
                     f'{hour:02d}h</text>')
    if threshold is not None:
        y = H - PAD - threshold / top * (H - 2 * PAD)
        parts.append(f'<line class="threshold" x1="{PAD}" y1="{y:.1f}" x2="{W - PAD}" '
                     f'y2="{y:.1f}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{W - PAD - 110}" y="{y - 4:.1f}" font-size="10" fill="#d62728">'
                     f'threshold {_fmt(threshold)}</text>')
    step = min((b[0] - a[0] for pts in series.values() for a, b in itertools.pairwise(pts)),
               default=0.0)
    for i, (name, pts) in enumerate(sorted(series.items())):
        color = COLORS[i % len(COLORS)]
        run: list[str] = []
        runs: list[list[str]] = []
        last_t = None
        for t, v in pts:
            if last_t is not None and step and t - last_t > step * 1.5:
                runs.append(run)
                run = []
            run.append(xy(t, v))
            last_t = t
        runs.append(run)
        for r in runs:
            if len(r) > 1:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.2" '
                             f'points="{" ".join(r)}"/>')
            elif r:
                cx, cy = r[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="1.5" fill="{color}"/>')
        parts.append(f'<text x="{PAD + 4 + 150 * (i % 4)}" y="{H - 4}" font-size="10" '
                     f'fill="{color}">{escape(name)}</text>')
    if not values:
        parts.append(f'<text x="{W / 2 - 60}" y="{H / 2}" font-size="14" fill="#d62728">'
                     "NO DATA for this day</text>")
    parts.append("</svg>")
    return "".join(parts)
