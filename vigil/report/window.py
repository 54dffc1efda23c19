"""The report's day: a UTC day split into fixed steps, and what a series says about it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from vigil.core.prom import Series

DAY = 86400


@dataclass(frozen=True)
class Day:
    date: dt.date
    step: int = 60

    @property
    def start(self) -> float:
        return dt.datetime.combine(self.date, dt.time(), tzinfo=dt.UTC).timestamp()

    @property
    def end(self) -> float:
        return self.start + DAY

    @property
    def last_step(self) -> float:
        """The last evaluation time inside the day (range queries include both ends)."""
        return self.end - self.step

    @property
    def eval_at(self) -> float:
        """Where whole-day instant queries are evaluated: 1 ms before midnight, so their
        ``[window]`` (closed at both ends in PromQL) covers [start, end) exactly."""
        return self.end - 0.001

    @property
    def window(self) -> str:
        return f"{DAY * 1000 - 1}ms"

    @property
    def step_window(self) -> str:
        """One step back from a range-query point, excluding the previous point's sample."""
        return f"{self.step * 1000 - 1}ms"

    @property
    def steps(self) -> int:
        return DAY // self.step


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def gaps(series: Series, day: Day) -> list[list[float]]:
    """[start, end) intervals of the day where the series has no point, merged."""
    have = {round((t - day.start) / day.step) for t, _ in series}
    out: list[list[float]] = []
    for i in range(day.steps):
        if i in have:
            continue
        t = day.start + i * day.step
        if out and out[-1][1] == t:
            out[-1][1] = t + day.step
        else:
            out.append([t, t + day.step])
    return out


def summarize(series: Series, day: Day, threshold: float | None = None) -> dict[str, Any]:
    """Coverage, extremes and time over ``threshold`` of one series over the day.

    A step without a point is a gap: it never counts as under the threshold, and the
    coverage ratio says how much of the day the figures rest on.
    """
    values = [v for _, v in series]
    out: dict[str, Any] = {
        "points": len(values),
        "coverage_ratio": round(len(values) / day.steps, 6),
        "gaps": gaps(series, day),
    }
    if values:
        out.update(min=min(values), max=max(values), avg=sum(values) / len(values),
                   last=values[-1])
    if threshold is not None:
        out["threshold"] = threshold
        out["seconds_over_threshold"] = sum(day.step for v in values if v > threshold)
    return out


def downsample(series: Series, points: int = 288) -> list[list[float]]:
    """At most ``points`` (t, v) pairs for a plot, keeping each bucket's maximum (spikes show)."""
    if len(series) <= points:
        return [[t, v] for t, v in series]
    size = -(-len(series) // points)
    return [[series[i][0], max(v for _, v in series[i:i + size])]
            for i in range(0, len(series), size)]
