"""Benchmark (not a test): /metrics of vigil's exporter vs Debian's postgres_exporter.

Same database, same run, same load: ``wrk -t2 -c4`` with Prometheus's Accept-Encoding.
Prints requests/s, p50, p99 and peak RSS (VmHWM) of both.

    .venv/bin/python bench/exporter_bench.py [--duration 10] [--series 500]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import yaml
from benchlib import ROOT, free_port, save_results  # bench/ is sys.path[0]

from vigil import demo
from vigil.core import pg

ADMIN = os.environ.get("VIGIL_ADMIN_DSN", pg.DEFAULT_ADMIN_DSN)
PG_EXPORTER = "/usr/bin/prometheus-postgres-exporter"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - our own http:// URL
        return str(r.read().decode())


def series(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def wait(url: str, min_series: int, deadline: float) -> int:
    while True:
        try:
            n = series(get(url))
            if n >= min_series:
                return n
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} never reached {min_series} series")
        time.sleep(0.2)


def wrk(url: str, duration: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t2", "-c4", f"-d{duration}s", "--latency",
                          "-H", "Accept-Encoding: gzip", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")

    return {"rps": rps, "p50_ms": pct("50"), "p99_ms": pct("99")}


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(m.group(1)) / 1024 if m else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--series", type=int, default=500, help="custom-collector series to add")
    args = ap.parse_args()
    dbname = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    info = demo.setup(ADMIN, dbname)
    demo.run_load(info, duration=2, rate=50)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            vport, pport = free_port(), free_port()
            cfg = {
                "targets": [{"name": "bench", "dsn": info.exporter_dsn}],
                "state_dir": tmp, "watermark_start": "zero",
                "scheduler": {"start_jitter": "1s"},
                "custom_collectors": [{"name": "bench", "interval": "15s", "queries": [{
                    "sql": f"SELECT 'series_' || i AS name, i AS value "
                           f"FROM generate_series(1, {args.series}) i",
                    "metrics": [{"name": "bench_value", "type": "gauge",
                                 "help": "Synthetic series for the benchmark.",
                                 "labels": ["name"]}]}]}],
            }
            (Path(tmp) / "exporter.yml").write_text(yaml.safe_dump(cfg))
            vig = subprocess.Popen([sys.executable, "-m", "vigil.cli", "--log-level", "warning",
                                    "exporter", "--config", f"{tmp}/exporter.yml",
                                    "--web.listen-address", f"127.0.0.1:{vport}"], cwd=ROOT)
            procs.append(vig)
            env = {**os.environ, "DATA_SOURCE_NAME": pg.with_dbname(ADMIN, dbname)
                   + " sslmode=disable"}
            pge = subprocess.Popen([PG_EXPORTER, f"--web.listen-address=127.0.0.1:{pport}"],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(pge)
            deadline = time.monotonic() + 60
            results = {}
            for name, port, proc, minimum in (("vigil", vport, vig, args.series + 100),
                                              ("postgres_exporter", pport, pge, 100)):
                url = f"http://127.0.0.1:{port}/metrics"
                n = wait(url, minimum, deadline)
                r = wrk(url, args.duration)
                r.update(series=n, peak_rss_mb=peak_rss_mb(proc.pid))
                results[name] = r
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
            pg.drop_database(ADMIN, dbname)
    print(f"{'exporter':<20}{'series':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>9}")
    for name, r in results.items():
        print(f"{name:<20}{r['series']:>8.0f}{r['rps']:>10.0f}{r['p50_ms']:>9.3f}"
              f"{r['p99_ms']:>9.3f}{r['peak_rss_mb']:>9.1f}")
    ratio = results["vigil"]["rps"] / results["postgres_exporter"]["rps"]
    print(f"vigil / postgres_exporter throughput: {ratio:.0f}x")
    save_results("exporter", {**results, "ratio": ratio})
    return 0


if __name__ == "__main__":
    sys.exit(main())
