"""Exporter test helpers: parse /metrics, poll with a deadline, a controllable TCP proxy."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg
from prometheus_client.parser import text_string_to_metric_families
from support.polling import wait_for_async as wait_for

from exporter.config import ExporterConfig
from exporter.scheduler import Exporter

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, metric_name: str, /, **labels: str) -> float | None:
    want = set(labels.items())
    hits = [v for (n, lv), v in samples.items() if n == metric_name and want <= set(lv)]
    return hits[0] if len(hits) == 1 else (None if not hits else sum(hits))


def missing_objects(samples: Samples, collector: str) -> float | None:
    """How often ``collector`` failed because the vigil schema lacks what it reads."""
    return value(samples, "vigil_collector_errors_total", collector=collector,
                 reason="missing_object")


def exposition(exp: Exporter) -> Samples:
    exp.renderer.refresh()
    return parse(exp.renderer.current.text.data.decode())


async def settled(dsn: str, within: float = 20.0) -> None:
    """Wait until every transaction that wrote before now has finished, so the built-in
    histograms (settled watermark) can observe its rows: take a transaction id, then wait
    for the exporter's own horizon (vigil_monitor.settled_horizon()) to pass it. Only this
    database's sessions hold it back, not other tests' databases."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
        assert row is not None
        mine = int(row[0])

        def passed() -> bool:
            h = conn.execute("SELECT vigil_monitor.settled_horizon()").fetchone()
            return h is not None and int(h[0]) > mine

        await wait_for(passed, within=within)


async def run(exp: Exporter, collector: str, target: str = "db1") -> bool:
    spec = next(s for s in exp.targets[target].specs if s.name == collector)
    return await exp.run(target, spec)


@contextlib.asynccontextmanager
async def running_exporters() -> AsyncIterator[Callable[..., Awaitable[Exporter]]]:
    """``start(cfg, schedule=False)`` starts an in-process Exporter; all stop on the way out."""
    running: list[Exporter] = []

    async def start(cfg: ExporterConfig, schedule: bool = False) -> Exporter:
        exp = Exporter(cfg)
        await exp.start(schedule=schedule)
        running.append(exp)
        return exp

    try:
        yield start
    finally:
        for exp in running:
            await exp.stop()
