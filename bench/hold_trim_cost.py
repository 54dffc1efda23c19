"""Benchmark (not a test), issue #12: a retention pass over access_log under a legal hold,
015's trim (every candidate tested with row_held()) against 018's.

Loads --rows access_log rows with one generate_series INSERT: all but 50,000 in a 6-day window
40..34 days ago, the 50,000 others 33..31 days ago (past the 30-day retention, outside the
window: what the first pass has to delete). The rows count as rolled up (rollup_state's
watermark is set past them: the trim deletes only counted rows). Then, in a copy of that
database (CREATE DATABASE ... TEMPLATE) per variant: the schema up to 017 (015's trim) or
with 018, and a hold over the window, ``everyone`` (no actor, no tenant) or ``tenants`` (all
ten tenants of the data named: a hold of a wide tenant set, which holds the same rows through
the narrow-hold path). It times two passes as `vigil db maintain` runs them (worker.run_once,
batch 10,000, statement timeout 60 s): the first deletes the 50,000 rows; the next finds
nothing new, which is what every later pass pays for the hold. Rows read:
pg_stat_user_tables.idx_tup_fetch + seq_tup_read of access_log over the pass.

    .venv/bin/python bench/hold_trim_cost.py [--rows 1e6] [--keep]
    .venv/bin/python bench/hold_trim_cost.py --rows 1e7
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import psycopg
from benchlib import ROOT, save_results, scratch_database  # bench/ is sys.path[0]

sys.path.insert(0, str(ROOT))

from vigil import schema
from vigil.core import pg
from vigil.maintain import worker
from vigil.schema import roles

FREE = 50_000
BATCH, TIMEOUT = 10_000, "60s"   # vigil/maintain/worker.py's
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
READS = ("SELECT coalesce(idx_tup_fetch, 0) + seq_tup_read, (SELECT rows_trimmed_total "
         "FROM vigil_monitor.maintenance_state WHERE id = 1) FROM pg_stat_user_tables "
         "WHERE relid = 'vigil_monitor.access_log'::regclass")


def _counters(dsn: str) -> tuple[int, int]:
    """access_log's rows read so far, and rows trimmed (every table; only access_log has
    rows here)."""
    with pg.connect(dsn) as conn:
        row = conn.execute(READS).fetchone()
    assert row is not None
    return int(str(row[0])), int(str(row[1]))


def one_pass(dsn: str) -> dict[str, Any]:
    """`vigil db maintain`'s pass (worker.run_once, its batch and statement timeout): time,
    access_log rows read and rows deleted (also by the calls committed before a timeout)."""
    read0, trimmed0 = _counters(dsn)
    out: dict[str, Any] = {"timed_out": False}
    with pg.connect(dsn) as conn:
        conn.execute(f"SET statement_timeout = '{TIMEOUT}'")
        t0 = time.perf_counter()
        try:
            worker.run_once(conn, batch=BATCH)
        except psycopg.errors.QueryCanceled:
            out["timed_out"] = True
        out["seconds"] = round(time.perf_counter() - t0, 2)
        conn.execute("SELECT pg_stat_force_next_flush()")   # flushed as the statement ends
    read, trimmed = _counters(dsn)
    out.update(rows_read=read - read0, deleted=trimmed - trimmed0)
    return out


def variant(base: str, version: str, hold: str) -> dict[str, Any]:
    """A copy of the loaded database, at ``version``, under ``hold``: the first pass (deletes
    what aged out) and the next one (nothing new: what every later pass costs)."""
    with scratch_database("vigil_bench_hold_v", template=base) as dsn:
        if version == "018":
            schema.install(dsn)
        with pg.connect(dsn) as conn:
            conn.execute(f"INSERT INTO vigil_monitor.legal_holds (incident_id, since, until, "
                         f"actors, tenants, held_by) VALUES (1, now() - interval '41 days', "
                         f"now() - interval '34 days', {HOLDS[hold]}, 'bench')")
        return {"schema": version, "hold": hold, "first": one_pass(dsn), "next": one_pass(dsn)}


def _cell(p: dict[str, Any]) -> str:
    late = " (timed out)" if p["timed_out"] else ""
    return f"{p['seconds']:.2f} s{late}, {p['deleted']} deleted, {p['rows_read']} read"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1e6", help="access_log rows (1e7 supported)")
    ap.add_argument("--keep", action="store_true", help="keep the loaded template database")
    args = ap.parse_args()
    rows = int(float(args.rows))
    held = rows - FREE
    results: list[dict[str, Any]] = []
    with scratch_database("vigil_bench_hold", keep=args.keep) as dsn:
        with pg.connect(dsn) as conn:
            roles.ensure_probe_roles(conn)
            with conn.transaction():
                schema.apply_migrations(conn, up_to=17)
            t0 = time.perf_counter()
            conn.execute(LOAD[0].encode(),
                         {"held": held, "rows": rows, "step": f"{6 * 86400 / held} s"})
            for stmt in LOAD[1:]:
                conn.execute(stmt.encode())
            print(f"loaded {rows} rows ({held} in the held window) in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        print("| schema | hold | first pass | next pass |")
        print("|---|---|---|---|")
        for version in ("015", "018"):
            for hold in HOLDS:
                r = variant(pg.dbname_of(dsn), version, hold)
                results.append({**r, "rows": rows, "held": held})
                print(f"| {version} | {hold} | {_cell(r['first'])} | {_cell(r['next'])} |",
                      flush=True)
    print(f"results: {save_results(f'hold_trim_cost_{rows:.0e}', results)}")


if __name__ == "__main__":
    main()
