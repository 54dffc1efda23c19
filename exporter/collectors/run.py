"""Run one collector's queries on one connection and turn the rows into a RunResult.

Values that are NULL, NaN or not numbers are skipped and counted, never fatal. Only the
columns a metric lists under ``labels`` become labels; every other column is ignored.

The settled watermark (built-in histograms). Ids come from sequences, so they become visible
in commit order, not id order: "max id seen" skips a row whose transaction took its id early
and committed late. Each row therefore carries the id of the transaction that wrote it
(``txid``), and a run first reads the horizon ``h = vigil_monitor.settled_horizon()`` (the
oldest transaction of this database still running, else the snapshot's xmax; schema 013):

- every transaction with an id below ``h`` has committed or aborted, so the rows with
  ``txid < h`` are final (visible to this and every later snapshot, none will appear);
- every transaction still running or yet to start has an id ``>= h``.

A run reads rows with ``(txid, id) > mark`` and ``txid < h`` in ``(txid, id)`` order, batch by
batch; the mark moves to the last row read, and to ``(h, 0)`` once the range is exhausted.
Why exactly once: the mark only grows and every row read is at or below it, so no row is
read twice. A row ``(t, i)`` of a transaction still running has ``t >= h`` in every run, and
the mark only moves to a row read (``txid < h``) or to ``(h, 0) <= (t, 0) < (t, i)``; so the
mark stays below the row until its transaction commits, and the first run whose horizon
passes ``t`` reads it. So each committed row is observed exactly once.

The horizon is read in its own statement, before the rows: under READ COMMITTED the row
reads take later snapshots, so a transaction that finished while ``h`` was computed is
visible to them.

The price: a transaction of this database that holds a transaction id for long (a long
write, an idle-in-transaction session that wrote something, a prepared transaction) holds
``h`` back and delays observations until it ends. Nothing is lost. Transactions in other
databases of the cluster cannot write here, so they don't hold it back.
"""

from __future__ import annotations

import bisect
import math
from decimal import Decimal
from typing import Any

from exporter.collectors.spec import CollectorSpec, MetricSpec, QuerySpec
from exporter.db import AConn, ProbeFailed, RowLimitExceeded
from exporter.snapshot import HistSeries, Labels, Mark, RunResult

MAX_BATCHES = 10  # watermark batches per run; the rest waits for the next run
HORIZON_SQL = "SELECT vigil_monitor.settled_horizon()"


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


async def _rows(conn: AConn, sql: str, params: dict[str, Any] | None,
                max_rows: int | None = None) -> list[dict[str, Any]]:
    # Always the extended protocol (prepare=True when there are no parameters): it runs
    # exactly one statement, so "COMMIT; INSERT ..." cannot leave the read-only transaction.
    cur = await conn.execute(sql, params, prepare=True if params is None else None)
    if cur.description is None:
        return []
    names = [d.name for d in cur.description]
    rows = await cur.fetchall()
    if max_rows is not None and len(rows) > max_rows:
        raise RowLimitExceeded(f"more than {max_rows} rows (limits.max_rows)")
    return [dict(zip(names, row, strict=True)) for row in rows]


async def start_mark(conn: AConn, q: QuerySpec) -> int:
    """The current max id, for a first start from "now" and for detecting a reset table."""
    assert q.start_sql is not None
    cur = await conn.execute(q.start_sql, {"watermark": 0, "batch": None})
    row = await cur.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def horizon(conn: AConn) -> int:
    """Every transaction id below this has finished; every later writer gets one >= it."""
    cur = await conn.execute(HORIZON_SQL)
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def collect(conn: AConn, spec: CollectorSpec, watermarks: dict[str, Mark],
                  batch: int) -> RunResult:
    c = Collection()
    h: int | None = None
    for q in spec.queries:
        if q.watermark is None:
            for row in await _rows(conn, q.sql, None, q.max_rows):
                if q.error_column and row.get(q.error_column) is not None:
                    raise ProbeFailed(str(row[q.error_column]))
                for m in q.metrics:
                    if m.type == "histogram":  # every row of every run is an observation
                        c.observe(m, row)
                    else:
                        c.sample(m, row)
            continue
        mark = watermarks.get(q.watermark_key, Mark())
        if q.settled:
            if h is None:  # one horizon per run: it only ever moves forward
                h = await horizon(conn)
            mark = await _settled(conn, q, c, mark, h=h, batch=batch)
        else:
            mark = await _by_id(conn, q, c, mark, batch)
        c.result.watermarks[q.watermark_key] = mark
    return c.result


async def _by_id(conn: AConn, q: QuerySpec, c: Collection, mark: Mark, batch: int) -> Mark:
    """Id watermark (custom collectors): rows must become visible in id order."""
    last = mark.id
    for _ in range(MAX_BATCHES):
        rows = await _rows(conn, q.sql, {"watermark": last, "batch": batch})
        for row in rows:
            for m in q.metrics:
                c.observe(m, row)
            rid = row.get(q.watermark or "id")
            if isinstance(rid, int) and rid > last:
                last = rid
        if len(rows) < batch:
            break
    return Mark(id=last)


async def _settled(conn: AConn, q: QuerySpec, c: Collection, mark: Mark, *, h: int,
                   batch: int) -> Mark:
    """Settled watermark (module docstring): exactly once under concurrent writers."""
    for _ in range(MAX_BATCHES):
        rows = await _rows(conn, q.sql, {"after_txid": mark.txid, "after_id": mark.id,
                                         "horizon": h, "since_id": mark.floor,
                                         "batch": batch})
        for row in rows:
            for m in q.metrics:
                c.observe(m, row)
            mark = Mark(int(row["txid"]), int(row["id"]), mark.floor)
        if len(rows) < batch:  # nothing settled is left above the mark
            return Mark(h, 0, mark.floor) if h > mark.txid else mark
    return mark  # more to read: the next run continues after the last row
