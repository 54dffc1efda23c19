"""Benchmark (not a test): audited INSERTs/s, chained in the trigger (007) vs buffered (008).

Two fresh databases, one at migration 007 (the trigger chains under a transaction-level
advisory lock) and one at 008 (the trigger appends to audit_buffer). N client threads each run
single-row INSERT transactions into an audited table for D seconds; prints transactions/s and
the p50/p95 audit write time the trigger recorded (audit_write_metrics). No sealer runs during
the measurement: sealing is off the writers' path.

    .venv/bin/python bench/audit_write_bench.py [--clients 8] [--duration 10]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid

import psycopg

from vigil import schema
from vigil.core import pg

ADMIN = os.environ.get("VIGIL_ADMIN_DSN", pg.DEFAULT_ADMIN_DSN)


def _prepare(up_to: int | None) -> tuple[str, str]:
    name = f"vigil_bench_audit_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(ADMIN, name)
    dsn = pg.with_dbname(ADMIN, name)
    with pg.connect(dsn) as conn:
        schema.apply_migrations(conn, up_to=up_to)
        conn.execute("CREATE TABLE public.items (id bigserial PRIMARY KEY, tenant_id text, "
                     "name text, note text, amount numeric)")
        conn.execute("SELECT vigil_monitor.enable_audit('public.items')")
    return name, dsn


def _run(dsn: str, clients: int, duration: float) -> tuple[float, float, float]:
    stop = time.monotonic() + duration
    counts = [0] * clients

    def work(i: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while time.monotonic() < stop:
                conn.execute("INSERT INTO public.items (tenant_id, name, note, amount) "
                             "VALUES ('t1', 'n', 'x', 1)")
                counts[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration), "
                           "percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) "
                           "FROM vigil_monitor.audit_write_metrics").fetchone()
    assert row is not None
    return sum(counts) / elapsed, row[0].total_seconds() * 1e3, row[1].total_seconds() * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()
    for label, up_to in (("007 chain in trigger", 7), ("008 buffer", None)):
        name, dsn = _prepare(up_to)
        try:
            tps, p50, p95 = _run(dsn, args.clients, args.duration)
            print(f"{label:<22} clients={args.clients} tps={tps:8.0f} "
                  f"audit write p50={p50:.3f} ms p95={p95:.3f} ms")
        finally:
            pg.drop_database(ADMIN, name)


if __name__ == "__main__":
    main()
