"""Benchmark (not a test): `vigil incident logs|traffic` cost vs access history size.

Loads access_log and audit_log to each size with one generate_series INSERT per table (history
spread over 1 h .. 30 days ago; a fixed 10,000 rows per table in the last hour, the incident's
window, at every size), builds access_rollup from it as `vigil db maintain` would (one
INSERT ... GROUP BY instead of the incremental fold, same content), ANALYZE, then times the
incident's queries through the product's own functions for one actor and one tenant over the
last hour with the 7-day baseline. Prints the median of --runs runs.

    .venv/bin/python bench/incident_cost.py [--sizes 1e5,1e6,1e7] [--runs 5] [--keep]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from benchlib import ROOT, save_results  # bench/ is sys.path[0]

sys.path.insert(0, str(ROOT))

from vigil import schema
from vigil.core import pg
from vigil.investigate import records, traffic
from vigil.investigate.scope import Scope

ADMIN = os.environ.get("VIGIL_ADMIN_DSN", pg.DEFAULT_ADMIN_DSN)
RECENT = 10_000
TS = ("now() - CASE WHEN s > 1e9 THEN ((s * 7919) %% 3600) * interval '1 s' "
      "ELSE interval '1 h' + ((s * 7919) %% (29 * 86400)) * interval '1 s' END")
LOAD = {
    "access_log": f"""INSERT INTO vigil_monitor.access_log (ts, tenant_id, actor_id, resource,
        action, success) SELECT {TS}, 't' || s %% 10, 'actor-' || s %% 1000, 'r', 'read',
        s %% 50 <> 0 FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) s""",
    "audit_log": f"""INSERT INTO vigil_monitor.audit_log (id, logged_at, tenant_id, actor_id,
        table_name, operation, row_pk, changed_columns, prev_hash, row_hash)
        SELECT s, {TS}, 't' || s %% 10, 'actor-' || s %% 1000, 'public.t', 'UPDATE',
        s::text, '{{x}}', 'x', 'x' FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) s""",
}
ROLLUP = """
TRUNCATE vigil_monitor.access_rollup;
INSERT INTO vigil_monitor.access_rollup (actor_id, bucket, requests, failed, min_ts)
SELECT actor_id, vigil_monitor.access_bucket(ts), count(*), count(*) FILTER (WHERE NOT success),
       min(ts) FROM vigil_monitor.access_log WHERE ts > now() - interval '8 days' GROUP BY 1, 2;
ANALYZE vigil_monitor.access_log; ANALYZE vigil_monitor.access_rollup;
ANALYZE vigil_monitor.audit_log;
"""


def _ms(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1e5,1e6,1e7")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    name = f"vigil_bench_incident_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(ADMIN, name)
    dsn = pg.with_dbname(ADMIN, name)
    try:
        schema.install(dsn)
        loaded, results = 0, []
        with pg.connect(dsn) as conn:
            for sql in LOAD.values():
                conn.execute(sql.encode(), {"lo": 2_000_000_001, "hi": 2_000_000_000 + RECENT})
            print("| rows per table | logs: audit rows | logs: access records | traffic |")
            print("|---|---|---|---|")
            for size in (int(float(s)) for s in args.sizes.split(",")):
                t0 = time.perf_counter()
                for sql in LOAD.values():
                    conn.execute(sql.encode(), {"lo": loaded + 1, "hi": size})
                conn.execute(ROLLUP.encode())
                load_s = time.perf_counter() - t0
                loaded = size
                now = datetime.now(UTC)
                sc = Scope(1, now - timedelta(hours=1), now, ("actor-7",), ("t3",))
                cost = [_ms(lambda s=sc: records.audit_rows(conn, s), args.runs),
                        _ms(lambda s=sc: records.access_records(conn, s), args.runs),
                        _ms(lambda s=sc: traffic.analyze(conn, s), args.runs)]
                results.append({"rows": size, "window_rows": RECENT, "load_s": load_s,
                                "audit_rows_ms": cost[0], "access_records_ms": cost[1],
                                "traffic_ms": cost[2]})
                print(f"| 10^{len(str(size)) - 1} (+{RECENT} in the window) | "
                      + " | ".join(f"{c:.1f} ms" for c in cost) + f" |   load {load_s:.0f} s",
                      flush=True)
        print(f"results: {save_results('incident_cost', results)}")
    finally:
        if not args.keep:
            pg.drop_database(ADMIN, name)


if __name__ == "__main__":
    main()
