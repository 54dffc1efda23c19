"""Run one collector's queries on one connection and turn the rows into a RunResult.

Values that are NULL, NaN or not numbers are skipped and counted, never fatal. Only the
columns a metric lists under ``labels`` become labels; every other column is ignored.
"""

from __future__ import annotations

import bisect
import math
from decimal import Decimal
from typing import Any

from exporter.collectors.spec import CollectorSpec, MetricSpec, QuerySpec
from exporter.db import AConn
from exporter.metrics import HistSeries, Labels, RunResult

MAX_BATCHES = 10  # watermark batches per run; the rest waits for the next run


def number(value: Any) -> tuple[float | None, str]:
    """(float, "") or (None, reason) for a value that can't be a sample."""
    if value is None:
        return None, "null"
    if isinstance(value, bool):
        return float(value), ""
    if isinstance(value, int | float | Decimal):
        f = float(value)
        return (None, "nan") if math.isnan(f) else (f, "")
    return None, "not_a_number"


def _label(value: Any) -> str:
    return "" if value is None else str(value)


class Collection:
    """Accumulates one run's samples; gauge/counter label sets are capped per metric."""

    def __init__(self) -> None:
        self.result = RunResult()

    def sample(self, spec: MetricSpec, row: dict[str, Any]) -> None:
        r = self.result
        family = r.samples.setdefault(spec.name, {})
        if spec.type == "stateset":
            current = _label(row.get(spec.value))
            for state in spec.states:
                family[(state,)] = float(state == current)
            return
        value, reason = number(row.get(spec.value))
        if value is None:
            r.skipped[(spec.name, reason)] += 1
            return
        labels: Labels = tuple(_label(row.get(c)) for c in spec.labels)
        if labels not in family and len(family) >= spec.max_series:
            r.dropped[spec.name] += 1
            return
        family[labels] = value

    def observe(self, spec: MetricSpec, row: dict[str, Any]) -> None:
        value, reason = number(row.get(spec.value))
        if value is None:
            self.result.skipped[(spec.name, reason)] += 1
            return
        labels: Labels = tuple(_label(row.get(c)) for c in spec.labels)
        series = self.result.hist.setdefault(spec.name, {})
        s = series.get(labels)
        if s is None:
            s = series[labels] = HistSeries.empty(len(spec.buckets))
        s.observe(bisect.bisect_left(spec.buckets, value), value)


async def _rows(conn: AConn, sql: str, params: dict[str, Any] | None) -> list[dict[str, Any]]:
    cur = await conn.execute(sql, params) if params is not None else await conn.execute(sql)
    if cur.description is None:
        return []
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def start_mark(conn: AConn, q: QuerySpec) -> int:
    """The current max id, for a first start from "now" and for detecting a reset table."""
    assert q.start_sql is not None
    cur = await conn.execute(q.start_sql, {"watermark": 0, "batch": None})
    row = await cur.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def collect(conn: AConn, spec: CollectorSpec, watermarks: dict[str, int],
                  batch: int) -> RunResult:
    c = Collection()
    for q in spec.queries:
        wm_col = q.watermark
        if wm_col is None:
            for row in await _rows(conn, q.sql, None):
                for m in q.metrics:
                    if m.type == "histogram":  # every row of every run is an observation
                        c.observe(m, row)
                    else:
                        c.sample(m, row)
            continue
        mark = watermarks.get(q.watermark_key, 0)
        for _ in range(MAX_BATCHES):
            rows = await _rows(conn, q.sql, {"watermark": mark, "batch": batch})
            for row in rows:
                for m in q.metrics:
                    c.observe(m, row)
                rid = row.get(wm_col)
                if isinstance(rid, int) and rid > mark:
                    mark = rid
            if len(rows) < batch:
                break
        c.result.watermarks[q.watermark_key] = mark
    return c.result
