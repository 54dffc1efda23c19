"""``vigil metrics collect``: run every collector of a target once, now, and show the result.

It uses the exporter's own collector specs and run loop (read-only transaction, statement
and lock timeouts), so what it prints is what the exporter would store. Histogram queries
follow a watermark that only the running exporter keeps: here they start from "now" (no
history is re-read, the database pays O(new rows)), so a one-off run observes nothing new
and says so.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from exporter.collectors.run import collect, horizon, start_mark
from exporter.config import ExporterConfig, Target, load_config
from exporter.db import TargetDB, classify
from exporter.scheduler import specs_for
from exporter.snapshot import Mark
from vigil.report.errors import ReportError


@dataclass
class CollectorRun:
    collector: str
    ok: bool
    seconds: float
    reason: str = ""
    samples: dict[str, int] = field(default_factory=dict)   # metric -> series stored
    histograms: dict[str, int] = field(default_factory=dict)  # metric -> observations


def load(config: Path, target: str | None) -> tuple[ExporterConfig, Target]:
    cfg = load_config(config)
    if target is None:
        return cfg, cfg.targets[0]
    for t in cfg.targets:
        if t.name == target:
            return cfg, t
    raise ReportError(f"{config} has no target {target!r}; targets: "
                      f"{', '.join(t.name for t in cfg.targets)}")


async def run_once(cfg: ExporterConfig, target: Target) -> list[CollectorRun]:
    db = TargetDB(target)
    await db.open()
    out: list[CollectorRun] = []
    try:
        for spec in specs_for(cfg, target):
            t0 = time.monotonic()
            try:
                async with db.transaction(spec.timeout, spec.lock_timeout) as conn:
                    marks: dict[str, Mark] = {}
                    for q in spec.queries:
                        if q.watermark:
                            marks[q.watermark_key] = (
                                Mark(await horizon(conn), 0, await start_mark(conn, q))
                                if q.settled else Mark(id=await start_mark(conn, q)))
                    result = await collect(conn, spec, marks, cfg.limits.watermark_batch)
            except Exception as exc:
                out.append(CollectorRun(spec.name, False, time.monotonic() - t0, classify(exc)))
                continue
            run = CollectorRun(spec.name, True, time.monotonic() - t0)
            run.samples = {m: len(s) for m, s in result.samples.items()}
            run.histograms = {m: sum(int(h.count) for h in s.values())
                              for m, s in result.hist.items()}
            out.append(run)
    finally:
        await db.close()
    return out


def collect_now(config: Path, target: str | None) -> list[CollectorRun]:
    cfg, tgt = load(config, target)
    return asyncio.run(run_once(cfg, tgt))
