"""Benchmark (not a test), issue #12: one retention pass over access_log under a legal hold,
015's trim (every candidate tested with row_held()) against 018's.

Loads --rows access_log rows with one generate_series INSERT: all but 50,000 in a 6-day window
40..34 days ago, the 50,000 others 33..31 days ago (past the 30-day retention, outside the
window: what one pass has to delete). The rows count as rolled up (rollup_state's watermark is
set past them: the trim deletes only counted rows). Then, for the schema up to 017 and again
with 018, and for two holds over the window: ``everyone`` (no actor, no tenant) and
``tenants`` (all ten tenants of the data named: a hold of a wide tenant set, which holds the
same rows through the narrow-hold path), it times one pass as `vigil db maintain` runs it:
maintain_trim('access_log', 10000) until a batch comes back short (at most 100 calls), each
call under the worker's 60 s statement timeout, in a transaction rolled back afterwards so
every variant sees the same rows. Rows read: pg_stat_user_tables.idx_tup_fetch + seq_tup_read
of access_log over the pass.

    .venv/bin/python bench/hold_trim_cost.py [--rows 1e6] [--runs 1] [--keep]
    .venv/bin/python bench/hold_trim_cost.py --rows 1e7
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from typing import Any

import psycopg
from benchlib import ROOT, save_results  # bench/ is sys.path[0]

sys.path.insert(0, str(ROOT))

from vigil import schema
from vigil.core import pg
from vigil.schema import roles

ADMIN = os.environ.get("VIGIL_ADMIN_DSN", pg.DEFAULT_ADMIN_DSN)
FREE = 50_000
BATCH, MAX_BATCHES, TIMEOUT = 10_000, 100, "60s"   # vigil/maintain/worker.py's
LOAD = (
    """INSERT INTO vigil_monitor.access_log (ts, tenant_id, actor_id, resource, action, success)
    SELECT CASE WHEN s <= %(held)s THEN now() - interval '40 days' + s * %(step)s::interval
                ELSE now() - interval '33 days' + (s - %(held)s) * interval '3 s' END,
           't' || s %% 10, 'actor-' || s %% 1000, 'r', 'read', true
    FROM generate_series(1, %(rows)s) s""",
    """UPDATE vigil_monitor.rollup_state SET (after_txid, after_id) =
    (SELECT max(txid), max(id) FROM vigil_monitor.access_log) WHERE source = 'access_log'""",
    "VACUUM ANALYZE vigil_monitor.access_log",
)
HOLDS = {
    "everyone": "'{}', '{}'",
    "tenants": "'{}', ARRAY(SELECT 't' || g FROM generate_series(0, 9) g)",
}
READS = ("SELECT coalesce(idx_tup_fetch, 0) + seq_tup_read FROM pg_stat_user_tables "
         "WHERE relid = 'vigil_monitor.access_log'::regclass")


def _reads(dsn: str) -> int:
    with pg.connect(dsn) as conn:
        row = conn.execute(READS).fetchone()
    return int(str(row[0])) if row else 0


def one_pass(dsn: str, hold: str) -> dict[str, Any]:
    """One pass under ``hold``, rolled back: time, calls, rows deleted, rows read."""
    before = _reads(dsn)
    out: dict[str, Any] = {"calls": 0, "deleted": 0, "timed_out": False, "call_ms": []}
    with pg.connect(dsn, autocommit=False) as conn:
        conn.execute(f"INSERT INTO vigil_monitor.legal_holds (incident_id, since, until, "
                     f"actors, tenants, held_by) VALUES (1, now() - interval '41 days', "
                     f"now() - interval '34 days', {HOLDS[hold]}, 'bench')")
        conn.execute(f"SET LOCAL statement_timeout = '{TIMEOUT}'")
        t0 = time.perf_counter()
        for _ in range(MAX_BATCHES):
            c0 = time.perf_counter()
            try:
                row = conn.execute("SELECT vigil_monitor.maintain_trim('access_log', %s)",
                                   (BATCH,)).fetchone()
            except psycopg.errors.QueryCanceled:
                out["timed_out"] = True
                break
            finally:
                out["call_ms"].append(round((time.perf_counter() - c0) * 1000, 1))
            n = int(str(row[0])) if row else 0
            out["calls"] += 1
            out["deleted"] += n
            if n < BATCH:
                break
        out["pass_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        conn.rollback()
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.commit()   # the flush happens as this transaction ends
    out["rows_read"] = _reads(dsn) - before
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1e6", help="access_log rows (1e7 supported)")
    ap.add_argument("--runs", type=int, default=1, help="passes per variant (best is kept)")
    ap.add_argument("--keep", action="store_true", help="keep the bench database")
    args = ap.parse_args()
    rows = int(float(args.rows))
    held = rows - FREE
    name = f"vigil_bench_hold_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(ADMIN, name)
    dsn = pg.with_dbname(ADMIN, name)
    results: list[dict[str, Any]] = []
    try:
        with pg.connect(dsn) as conn:
            roles.ensure_probe_roles(conn)
            with conn.transaction():
                schema.apply_migrations(conn, up_to=17)
            t0 = time.perf_counter()
            params = {"held": held, "rows": rows, "step": f"{6 * 86400 / held} s"}
            conn.execute(LOAD[0].encode(), params)
            for stmt in LOAD[1:]:
                conn.execute(stmt.encode())
            print(f"loaded {rows} rows ({held} in the held window) in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        print("| schema | hold | pass | calls | rows deleted | rows read | slowest call |")
        print("|---|---|---|---|---|---|---|")
        for version in ("015", "018"):
            if version == "018":
                schema.install(dsn)
            for hold in HOLDS:
                runs = [one_pass(dsn, hold) for _ in range(args.runs)]
                best = min(runs, key=lambda r: float(r["pass_ms"]))
                best.update(schema=version, hold=hold, rows=rows, held=held)
                results.append(best)
                status = " (timed out)" if best["timed_out"] else ""
                print(f"| {version} | {hold} | {best['pass_ms'] / 1000:.2f} s{status} | "
                      f"{best['calls']} | {best['deleted']} | {best['rows_read']} | "
                      f"{max(best['call_ms']) / 1000:.2f} s |", flush=True)
        print(f"results: {save_results(f'hold_trim_cost_{rows:.0e}', results)}")
    finally:
        if not args.keep:
            pg.drop_database(ADMIN, name)


if __name__ == "__main__":
    main()
