"""Benchmark (not a test), issue #12: what an ACTIVE containment costs the application.

While anything is contained, every RLS table carries the RESTRICTIVE policy ``vigil_contain``
(schema 014): a quarantined tenant adds ``tenant_id <> ALL (...)`` to every row check, a
contained actor adds ``(SELECT vigil_contain.admits(table))`` to USING and, since schema 020,
``(SELECT vigil_contain.admits_write(table))`` to WITH CHECK (which counts a contained actor's
refused writes). On the demo app (4 tenants) in a
throwaway cluster (bench/pgcluster.py), as the app's RLS-subject role, pgbench at 8 clients:
each transaction sets tenant (1-3) and actor, inserts a Deal, reads the latest 10, updates one;
no think time, so no policy cost hides behind it. Variants, in order ABC, CBA, ... (a drift
evens out): ``none``; ``tenant`` (tenant-4, no traffic, quarantined); ``actor`` (intruder-1,
not in the mix, contained). Also counts admits() + admits_write() calls (track_functions = pl)
per transaction and over one query on thousands of rows: per query, or per row?

    .venv/bin/python bench/containment_cost.py [--duration 25] [--clients 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from benchlib import run_in_tmp  # bench/ is sys.path[0]
from pgcluster import throwaway_cluster
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from vigil import contain
from vigil.contain import Target
from vigil.demo import app

SCRIPT = """\\set t random(1, 3)
\\set a random(1, 50)
\\set off random(0, 30)
BEGIN;
SELECT set_config('app.current_tenant_id', 'tenant-' || :t, true), \
set_config('app.current_actor_id', 'user-' || :a, true);
INSERT INTO "Deal" (tenant_id, title, amount) VALUES ('tenant-' || :t, 'bench', :off);
SELECT id, title, stage, amount FROM "Deal" ORDER BY id DESC LIMIT 10;
UPDATE "Deal" SET stage = 'won', updated_at = now() \
WHERE id = (SELECT id FROM "Deal" ORDER BY id DESC OFFSET :off LIMIT 1);
COMMIT;
"""
TARGETS = {"none": None, "tenant": Target("tenant", "tenant-4"),
           "actor": Target("actor", "intruder-1")}
CALLS = ("SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions "
         "WHERE schemaname = 'vigil_contain' AND funcname IN ('admits', 'admits_write')")


def pgbench(dsn: str, password: str, clients: int, duration: int, tmp: Path) -> dict[str, Any]:
    """tps, mean and p95 latency (from pgbench's per-transaction log)."""
    for old in tmp.glob("tx.*"):
        old.unlink()
    script = tmp / "mix.sql"
    script.write_text(SCRIPT)
    out = subprocess.run(
        ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(duration), "-f", str(script),
         "-l", f"--log-prefix={tmp / 'tx'}", "-d", dsn], capture_output=True, text=True,
        check=True, cwd=tmp, env={**os.environ, "PGPASSWORD": password}).stdout
    tps = re.search(r"^tps = ([\d.]+)", out, re.M)
    lat = re.search(r"^latency average = ([\d.]+) ms", out, re.M)
    txs = re.search(r"^number of transactions actually processed: (\d+)", out, re.M)
    assert tps and lat and txs, out
    us = sorted(int(line.split()[2]) for f in tmp.glob("tx.*") for line in f.open())
    return {"tps": float(tps.group(1)), "latency_ms": float(lat.group(1)),
            "p95_ms": us[int(0.95 * (len(us) - 1))] / 1000, "transactions": int(txs.group(1))}


def admits_calls(admin: str) -> int:
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(CALLS).fetchone()
    return int(row[0]) if row else 0


def per_row_probe(admin: str, app_dsn: str) -> dict[str, Any]:
    """admits()/admits_write() calls for one SELECT and one UPDATE over all of tenant-1's
    Deals (rolled back), with the plans: 1 call each means per query (InitPlan), N per row."""
    out: dict[str, Any] = {}
    for name, stmt in (("select", 'SELECT count(*) FROM "Deal"'),
                       ("update", 'UPDATE "Deal" SET stage = stage')):
        before = admits_calls(admin)
        with psycopg.connect(app_dsn) as conn:  # stats flush when the session ends
            conn.execute("SELECT set_config('app.current_tenant_id', 'tenant-1', true), "
                         "set_config('app.current_actor_id', 'user-1', true)")
            plan = [str(r[0]) for r in conn.execute(f"EXPLAIN (COSTS OFF) {stmt}")]
            rows = conn.execute(stmt).rowcount if name == "update" else \
                int(conn.execute(stmt).fetchone()[0])  # type: ignore[index]
            conn.rollback()
        out[name] = {"rows": rows, "admits_calls": admits_calls(admin) - before, "plan": plan}
    return out


def run_all(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"clients": args.clients, "duration": args.duration, "runs": []}
    with throwaway_cluster(settings={"max_connections": "100", "track_functions": "pl"}) as su:
        demo = app.setup(su, "bench_demo", tenants=4)
        password = secrets.token_urlsafe(18)
        with psycopg.connect(demo.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(app.APP_ROLE), sql.Literal(password)))
        params = conninfo_to_dict(demo.admin_dsn)
        params.pop("password", None)
        app_dsn = make_conninfo("", **{**params, "user": app.APP_ROLE})
        for rnd in range(1, args.rounds + 1):
            order = list(TARGETS.items())  # ABC, CBA, ...: a drift (the table grows) evens out
            for variant, target in order if rnd % 2 else order[::-1]:
                if target is not None:
                    assert contain.contain(demo.admin_dsn, target, incident_id=0, who="bench").ok
                calls = admits_calls(demo.admin_dsn)
                try:
                    r = {"variant": variant, "round": rnd,
                         **pgbench(app_dsn, password, args.clients, args.duration, tmp)}
                    r["admits_per_tx"] = round(
                        (admits_calls(demo.admin_dsn) - calls) / r["transactions"], 2)
                    if variant == "actor" and rnd == 1:
                        results["per_row_probe"] = per_row_probe(
                            demo.admin_dsn, make_conninfo(app_dsn, password=password))
                finally:
                    if target is not None:
                        assert contain.release(demo.admin_dsn, target, who="bench").ok
                print(json.dumps(r), flush=True)
                results["runs"].append(r)
    return results


def report(results: dict[str, Any]) -> None:
    runs = results["runs"]
    base = {r["round"]: r for r in runs if r["variant"] == "none"}
    print(f"\n{'variant':<8}{'round':>6}{'tps':>8}{'x none':>8}{'mean ms':>9}{'p95 ms':>8}"
          f"{'x none':>8}{'admits/tx':>10}")
    for r in runs:
        b = base[r["round"]]
        print(f"{r['variant']:<8}{r['round']:>6}{r['tps']:>8.0f}{r['tps'] / b['tps']:>8.2f}"
              f"{r['latency_ms']:>9.2f}{r['p95_ms']:>8.2f}{r['p95_ms'] / b['p95_ms']:>8.2f}"
              f"{r['admits_per_tx']:>10}")
    for name, p in results.get("per_row_probe", {}).items():
        print(f"probe {name}: {p['rows']} rows, admits()/admits_write() called "
              f"{p['admits_calls']}x")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=25, help="seconds per pgbench run")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2, help="times each variant runs")
    return run_in_tmp("containment_cost", ap, run_all, report)


if __name__ == "__main__":
    sys.exit(main())
