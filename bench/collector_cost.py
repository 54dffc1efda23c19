"""Benchmark (not a test): DB time of one run of each built-in collector vs history size.

Bulk-loads access_log, audit_log, phi_access_patterns, encryption_ops and audit_write_metrics
to each size (one generate_series INSERT per table per step, then ANALYZE), lets the
maintenance rollup catch up (as `vigil db maintain` would), then times each collector through
the exporter's own machinery (exporter.collectors.run.collect, in a read-only transaction as
exporter/db.py opens it) in steady state: a warm-up run sets the watermarks as the exporter
does on a first start, then each timed run sees 100 new rows per table. Prints the median of
--runs runs per collector, and per query for the security collector.

    .venv/bin/python bench/collector_cost.py [--sizes 1e5,1e6,1e7] [--runs 5] [--keep]

Row contents are fake (the audit chain does not verify): the figures are about cost only.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.collectors.builtin import builtin_specs
from exporter.collectors.run import collect, horizon, start_mark
from exporter.collectors.spec import CollectorSpec
from exporter.config import build_config
from exporter.snapshot import Mark
from vigil import schema
from vigil.core import pg

RECENT_BASE = 2_000_000_000  # ids of the recent day's rows (the CASE above tests s > 1e9)
ADMIN = os.environ.get("VIGIL_ADMIN_DSN", pg.DEFAULT_ADMIN_DSN)
# Rows %(lo)s..%(hi)s of a step. History rows are scattered over 25 h .. 30 days ago; the last
# day holds a fixed RECENT rows (loaded once, ids above any history step), so the work a
# collector must do on recent data (the 5-minute window, the 24 h baseline) is the same at every
# size and the figures show the cost of history alone.
SPAN = 29 * 86400 - 3600
RECENT = 100_000
TS = (f"now() - CASE WHEN s > 1e9 THEN ((s * 7919) %% 86400) * interval '1 s' "
      f"ELSE interval '25 h' + ((s * 7919) %% {SPAN}) * interval '1 s' END")
LOAD = {
    "access_log": f"""INSERT INTO vigil_monitor.access_log (ts, tenant_id, actor_id, resource,
        action, success) SELECT {TS},
        't' || s %% 10, 'actor-' || s %% 1000, 'public.patients', 'read', s %% 50 <> 0
        FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) s""",
    "phi_access_patterns": f"""INSERT INTO vigil_monitor.phi_access_patterns (accessed_at,
        table_name, tenant_id, actor_id, operation, duration_ms, row_count, schema_name,
        relname) SELECT {TS},
        'public.t' || s %% 20, 't' || s %% 10, 'actor-' || s %% 1000, 'read', s %% 97, 1,
        'public', 't' || s %% 20 FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) s""",
    "encryption_ops": f"""INSERT INTO vigil_monitor.encryption_ops (ts, operation, key_id,
        duration_ms, success) SELECT {TS},
        CASE WHEN s %% 2 = 0 THEN 'encrypt' ELSE 'decrypt' END, 'k1', s %% 13, s %% 1000 <> 0
        FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) s""",
    "audit_write_metrics": f"""INSERT INTO vigil_monitor.audit_write_metrics ("timestamp",
        duration, table_name, operation, schema_name, relname)
        SELECT {TS}, (s %% 7) * interval '1 ms',
        'public.t' || s %% 20, 'INSERT', 'public', 't' || s %% 20
        FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) s""",
    "audit_log": f"""INSERT INTO vigil_monitor.audit_log (id, logged_at, tenant_id, actor_id,
        table_name, operation, row_pk, changed_columns, prev_hash, row_hash)
        SELECT s, now() - CASE WHEN s > 1e9 THEN (s %% 86400) * interval '1 s'
                               ELSE interval '25 h' + (s %% {SPAN}) * interval '1 s' END,
        't' || s %% 10, 'actor-' || s %% 1000,
        'public.t' || s %% 20, 'INSERT', s::text, '{{id}}', 'x', 'x'
        FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) s""",
}
NEW_ROWS = """
SELECT vigil_monitor.record_access('public.patients', 'read', s % 10 <> 0),
       vigil_monitor.record_phi_access('public.t1', 'read', 3, 1),
       vigil_monitor.record_encryption_op('encrypt', 'k1', 2, true)
FROM generate_series(1, 100) s;
INSERT INTO vigil_monitor.audit_write_metrics (duration, table_name, operation,
    schema_name, relname)
SELECT '1 ms', 'public.t1', 'INSERT', 'public', 't1' FROM generate_series(1, 100);
"""


def load(dsn: str, have: int, size: int) -> float:
    t0 = time.perf_counter()
    with pg.connect(dsn) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        for stmt in LOAD.values():
            conn.execute(stmt, {"lo": have + 1, "hi": size})
        conn.execute("SELECT setval('vigil_monitor.audit_log_id_seq', %s)",
                     (max(size, RECENT_BASE + RECENT),))
        conn.execute("ANALYZE vigil_monitor.access_log, vigil_monitor.audit_log, "
                     "vigil_monitor.phi_access_patterns, vigil_monitor.encryption_ops, "
                     "vigil_monitor.audit_write_metrics")
    return time.perf_counter() - t0


def catch_up(dsn: str) -> float:
    """The maintenance rollup, as `vigil db maintain` runs it, until nothing is left."""
    t0 = time.perf_counter()
    with pg.connect(dsn) as conn:
        for source in ("access_log", "encryption_ops"):
            while True:
                row = conn.execute("SELECT vigil_monitor.maintain_rollup(%s, 200000)",
                                   (source,)).fetchone()
                if not row or int(str(row[0])) < 200000:
                    break
        # schema 012: the control counters fold audit_write_metrics the same way
        while True:
            row = conn.execute("SELECT vigil_monitor.controls_fold(200000)").fetchone()
            if not row or int(str(row[0])) < 200000:
                break
        conn.execute("ANALYZE vigil_monitor.access_rollup")
    return time.perf_counter() - t0


async def _run(conn: psycopg.AsyncConnection[tuple[object, ...]], spec: CollectorSpec,
               marks: dict[str, Mark]) -> float:
    async with conn.transaction():
        await conn.execute("SELECT set_config('transaction_read_only', 'on', true), "
                           "set_config('statement_timeout', '600s', true)")
        t0 = time.perf_counter()
        result = await collect(conn, spec, marks, 10_000)
        elapsed = time.perf_counter() - t0
    marks.update(result.watermarks)
    return elapsed


async def measure(dsn: str, runs: int) -> dict[str, float]:
    cfg = build_config({"targets": [{"name": "bench", "dsn": dsn}]})
    specs = builtin_specs(cfg)
    parts: list[tuple[str, CollectorSpec]] = [(s.name, s) for s in specs]
    sec = next(s for s in specs if s.name == "security")
    parts += [(f"security[{i}] {q.metrics[0].name}", dataclasses.replace(sec, queries=(q,)))
              for i, q in enumerate(sec.queries)]
    out: dict[str, float] = {}
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for name, spec in parts:
            marks: dict[str, Mark] = {}
            for q in spec.queries:  # a first start "from now", as the scheduler does it
                if q.watermark and q.settled:
                    marks[q.watermark_key] = Mark(await horizon(conn), 0,
                                                  await start_mark(conn, q))
            await _run(conn, spec, marks)  # warm-up
            times = []
            for _ in range(runs):
                await conn.execute(NEW_ROWS)
                times.append(await _run(conn, spec, marks))
                if times[-1] > 10:  # minutes per size otherwise; one run says enough
                    break
            out[name] = statistics.median(times) * 1000
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e5,1e6,1e7", help="rows of history per table")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per collector")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    name = f"vigil_bench_cost_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(ADMIN, name)
    dsn = pg.with_dbname(ADMIN, name)
    results: dict[int, dict[str, float]] = {}
    try:
        schema.install(dsn)
        load(dsn, RECENT_BASE, RECENT_BASE + RECENT)
        have = 0
        for size in sizes:
            t_load = load(dsn, have, size)
            have = size
            t_roll = catch_up(dsn)
            print(f"{size:>10,} rows/table: load {t_load:.0f} s, rollup catch-up {t_roll:.0f} s",
                  flush=True)
            results[size] = asyncio.run(measure(dsn, args.runs))
            for k, v in results[size].items():
                print(f"    {k:<55} {v:9.1f} ms", flush=True)
    finally:
        if not args.keep:
            pg.drop_database(ADMIN, name)
    names = list(next(iter(results.values())))
    print("\n| collector | " + " | ".join(f"{s:.0e} rows" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for n in names:
        print(f"| {n} | " + " | ".join(f"{results[s][n]:.1f} ms" for s in sizes) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
