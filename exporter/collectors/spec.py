"""What a collector is: queries, and the metric families each query's rows feed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from exporter.config import CustomCollector, ExporterConfig
from exporter.sqlcheck import strip

MetricType = Literal["gauge", "counter", "histogram", "stateset"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: MetricType
    help: str
    value: str = "value"                 # column with the number (stateset: the state name)
    labels: tuple[str, ...] = ()         # result columns that become labels (allow-list)
    buckets: tuple[float, ...] = ()      # histogram upper bounds, seconds
    watermark: str | None = None         # histogram: monotonic id column
    max_series: int = 1000
    states: tuple[str, ...] = ()         # stateset: every possible state


@dataclass(frozen=True)
class QuerySpec:
    sql: str
    metrics: tuple[MetricSpec, ...]
    # Id watermark queries take %(watermark)s and %(batch)s. start_sql returns the current
    # max id (first start with watermark_start "now", and to notice a recreated table).
    start_sql: str | None = None
    # Settled watermark (the built-ins): the query returns ``txid`` and ``id`` columns and
    # takes %(after_txid)s, %(after_id)s, %(horizon)s, %(since_id)s and %(batch)s; it must
    # return rows with (txid, id) > (after_txid, after_id) AND txid < horizon AND
    # id > since_id, ORDER BY txid, id LIMIT batch. See collectors/run.py.
    settled: bool = False
    # Custom queries without a watermark: more rows than this fail the run (reason row_limit).
    max_rows: int | None = None
    # A column that is NULL when the row was measured and otherwise says why not: such a row
    # fails the run (reason probe), so the last good values stay instead of a series
    # vanishing as if healthy.
    error_column: str | None = None

    @property
    def watermark(self) -> str | None:
        return next((m.watermark for m in self.metrics if m.watermark), None)

    @property
    def watermark_key(self) -> str:
        return next(m.name for m in self.metrics if m.watermark)


@dataclass(frozen=True)
class CollectorSpec:
    name: str
    interval: float
    timeout: float
    lock_timeout: float
    queries: tuple[QuerySpec, ...]
    builtin: bool = False

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:
        return tuple(m for q in self.queries for m in q.metrics)


def custom_spec(c: CustomCollector, cfg: ExporterConfig) -> CollectorSpec:
    queries = []
    for q in c.queries:
        metrics = tuple(
            MetricSpec(name=m.name, type=m.type, help=m.help, value=m.value, labels=m.labels,
                       buckets=m.buckets or (), watermark=m.watermark,
                       max_series=m.max_series or cfg.limits.max_series_per_metric)
            for m in q.metrics)
        wm = next((m.watermark for m in metrics if m.watermark), None)
        start, sql, max_rows = None, strip(q.sql), None
        if wm:
            start = f"SELECT coalesce(max(q.{_ident(wm)}), 0) FROM (\n{sql}\n) AS q"
        else:
            # The server stops at the limit, so a runaway query cannot fill the exporter.
            max_rows = cfg.limits.max_rows
            sql = f"SELECT * FROM (\n{sql}\n) AS vigil_q LIMIT {max_rows + 1}"
        queries.append(QuerySpec(sql=sql, metrics=metrics, start_sql=start, max_rows=max_rows))
    return CollectorSpec(name=c.name, interval=c.interval, timeout=c.timeout,
                         lock_timeout=c.lock_timeout, queries=tuple(queries))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
