"""Benchmark (not a test), issue #16: what auditing costs an application's writes.

pgbench, 8 and 32 clients; each transaction inserts one row and does 5 ms of other work
(``SELECT pg_sleep(0.005)``) in the same transaction, as an application does between its
write and its commit. Three databases in ONE throwaway cluster (bench/pgcluster.py), one run:

- ``plain``: the table, no auditing;
- ``vigil``: the same table after ``vigil db install`` + ``vigil_monitor.enable_audit``;
- ``pgaudit``: the same table with pgaudit logging every write (``pgaudit.log = 'write'`` on
  that database; the cluster preloads pgaudit, the other databases leave it off).

Also reported for vigil: p95 of the audit write (``audit_write_metrics``) and, when the
branch has ``vigil audit seal``, the sealer's rows/s and its worst lag under load.

    .venv/bin/python bench/audit_throughput.py [--duration 30] [--clients 8,32]
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from benchlib import ROOT, run_in_tmp  # bench/ is sys.path[0]
from pgcluster import ensure_apt_package, throwaway_cluster

from vigil.core import pg
from vigil.schema import installer

PGAUDIT_SO = Path("/usr/lib/postgresql/15/lib/pgaudit.so")
TABLE = """CREATE TABLE bench_items (id bigserial PRIMARY KEY, tenant_id int NOT NULL,
           note text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"""
SCRIPT = """\\set tenant random(1, 100)
BEGIN;
INSERT INTO bench_items (tenant_id, note) VALUES (:tenant, 'bench');
SELECT pg_sleep(0.005);
COMMIT;
"""
P95_SQL = ("SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM duration)), "
           "count(*) FROM vigil_monitor.audit_write_metrics WHERE \"timestamp\" >= %s")


def prepare(admin: str) -> dict[str, str]:
    dsns = {}
    for variant in ("plain", "vigil", "pgaudit"):
        name = f"bench_{variant}"
        pg.ensure_database(admin, name)
        dsn = dsns[variant] = pg.with_dbname(admin, name)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(TABLE)
            if variant == "pgaudit":
                conn.execute("CREATE EXTENSION IF NOT EXISTS pgaudit")
                conn.execute(f"ALTER DATABASE {name} SET pgaudit.log = 'write'")
        if variant == "vigil":
            installer.install(dsn, exporter_role=None)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("SELECT vigil_monitor.enable_audit('bench_items', 'id')")
    return dsns


def audit_write_p95(dsn: str, since: Any) -> dict[str, Any]:
    """p95 of the trigger's audit write since ``since`` (None if the schema has no timings)."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            p95, n = conn.execute(P95_SQL, (since,)).fetchone()  # type: ignore[misc]
    except psycopg.errors.UndefinedTable:
        return {"audit_write_p95_ms": None, "audit_writes": None}
    return {"audit_write_p95_ms": float(p95) * 1000 if p95 is not None else None,
            "audit_writes": int(n)}


def pgbench(dsn: str, clients: int, duration: int, script: Path) -> dict[str, float]:
    out = subprocess.run(
        ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(duration), "-f", str(script),
         "-d", dsn], capture_output=True, text=True, check=True).stdout
    tps = re.search(r"^tps = ([\d.]+)", out, re.M)
    lat = re.search(r"^latency average = ([\d.]+) ms", out, re.M)
    assert tps and lat, out
    return {"tps": float(tps.group(1)), "latency_ms": float(lat.group(1))}


def has_sealer() -> bool:
    r = subprocess.run([sys.executable, "-m", "vigil.cli", "audit", "seal", "--help"],
                       cwd=ROOT, capture_output=True, check=False)
    return r.returncode == 0


class Sealer:
    """``vigil audit seal`` on the vigil database during its runs; samples lag each second."""

    def __init__(self, dsn: str, tmp: Path) -> None:
        key = tmp / "audit.key"
        key.write_text(secrets.token_hex(32) + "\n")
        key.chmod(0o600)
        self.dsn = dsn
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "--log-level", "warning", "audit", "seal",
             "--dsn", dsn, "--key-file", str(key), "--checkpoint-file", str(tmp / "ckpt"),
             "--interval", "1"], cwd=ROOT)
        self.max_lag = 0.0
        self._sampling = threading.Event()  # lag is sampled during vigil's own runs only
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _query(self, text: str) -> float:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute(text.encode()).fetchone()
        return float(row[0] or 0) if row else 0.0

    def _sample(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.wait(1.0):
                if not self._sampling.is_set():
                    continue
                for row in conn.execute("SELECT seal_lag_seconds FROM "
                                        "vigil_monitor.audit_sealer_status() WHERE alive"):
                    self.max_lag = max(self.max_lag, float(row[0] or 0))

    def begin(self) -> None:
        self.max_lag = 0.0
        self._sealed0 = self._query("SELECT coalesce(max(id), 0) FROM vigil_monitor.audit_log")
        self._t0 = time.monotonic()
        self._sampling.set()

    def end(self) -> dict[str, float]:
        """Rows chained per second over the run (the chain's growth, not a last-batch rate),
        the worst seal lag seen during it, and how long the backlog took to drain after it."""
        self._sampling.clear()
        sealed = self._query("SELECT coalesce(max(id), 0) FROM vigil_monitor.audit_log")
        rate = (sealed - self._sealed0) / (time.monotonic() - self._t0)
        t1 = time.monotonic()
        while self._query("SELECT rows_waiting FROM vigil_monitor.audit_buffer_status()") > 0:
            if time.monotonic() - t1 > 120:
                break
            time.sleep(0.2)
        return {"sealer_rows_per_second": round(rate, 1),
                "sealer_max_lag_seconds": round(self.max_lag, 2),
                "sealer_drain_seconds": round(time.monotonic() - t1, 2)}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.proc.terminate()
        self.proc.wait(10)


def run_all(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    script = tmp / "txn.sql"
    script.write_text(SCRIPT)
    ensure_apt_package("postgresql-15-pgaudit", PGAUDIT_SO)
    results: dict[str, Any] = {"runs": []}
    with throwaway_cluster(preload="pgaudit", settings={"max_connections": "100"}) as admin:
        dsns = prepare(admin)
        sealer = None
        if has_sealer():
            sealer = Sealer(dsns["vigil"], tmp)
        else:
            results["sealer"] = "skipped: this branch has no `vigil audit seal`"
            print("sealer: skipped (this branch has no `vigil audit seal`)", flush=True)
        try:
            for clients in args.clients:
                for variant in ("plain", "vigil", "pgaudit"):
                    with psycopg.connect(dsns[variant], autocommit=True) as conn:
                        since = conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
                    if variant == "vigil" and sealer is not None:
                        sealer.begin()
                    r: dict[str, Any] = {"variant": variant, "clients": clients,
                                         **pgbench(dsns[variant], clients, args.duration, script)}
                    if variant == "vigil":
                        if sealer is not None:
                            r.update(sealer.end())
                        r.update(audit_write_p95(dsns[variant], since))
                    print(json.dumps(r), flush=True)
                    results["runs"].append(r)
        finally:
            if sealer is not None:
                sealer.stop()
    return results


def report(results: dict[str, Any]) -> None:
    runs = results["runs"]
    plain = {r["clients"]: r["tps"] for r in runs if r["variant"] == "plain"}
    print(f"\n{'variant':<9}{'clients':>8}{'tps':>9}{'x plain':>9}{'lat ms':>9}"
          f"{'audit p95 ms':>14}")
    for r in runs:
        p95 = r.get("audit_write_p95_ms")
        print(f"{r['variant']:<9}{r['clients']:>8}{r['tps']:>9.0f}"
              f"{r['tps'] / plain[r['clients']]:>9.2f}{r['latency_ms']:>9.2f}"
              f"{'' if p95 is None else f'{p95:.2f}':>14}")
        if "sealer_rows_per_second" in r:
            print(f"{'':<17}sealer {r['sealer_rows_per_second']:.0f} rows/s, "
                  f"max lag {r['sealer_max_lag_seconds']:.1f} s, "
                  f"drained {r['sealer_drain_seconds']:.1f} s after the run")
    if "sealer" in results:
        print(results["sealer"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=30, help="seconds per pgbench run")
    ap.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")],
                    default=[8, 32])
    return run_in_tmp("audit_throughput", ap, run_all, report)


if __name__ == "__main__":
    sys.exit(main())
