"""Benchmark (not a test): scrape latency while clients send wrong passwords (#15 item 8).

Starts vigil's exporter with basic auth (bcrypt cost 10) and measures one authorised scraper
(back-to-back requests from Python: the figures include urllib's cost) alone, then while 4
clients send fresh wrong passwords as fast as they can; and the time of a 401 for a known
and an unknown user.

    .venv/bin/python bench/exporter_auth_bench.py [--duration 10]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import yaml
from benchlib import ROOT, free_port, save_results  # bench/ is sys.path[0]

from exporter.config import BUILTIN_COLLECTORS
from vigil.core import pg

ADMIN = os.environ.get("VIGIL_ADMIN_DSN", pg.DEFAULT_ADMIN_DSN)


def header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def status(url: str, auth: str) -> int:
    req = urllib.request.Request(url, headers={"Authorization": auth})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - our own http:// URL
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def scrape(url: str, auth: str, duration: float) -> dict[str, float]:
    """One client scraping back to back: p50 and p99 latency in ms."""
    times = []
    end = time.monotonic() + duration
    while time.monotonic() < end:
        t0 = time.perf_counter()
        assert status(url, auth) == 200
        times.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(times, n=100)
    return {"p50_ms": q[49], "p99_ms": q[98], "n": len(times)}


def timed_401(url: str, user: str, n: int = 10) -> float:
    """Median ms of a wrong-password answer, spaced out so the rate limit never answers."""
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        assert status(url, header(user, f"wrong-{user}-{i}-{time.time()}")) == 401
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.3)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    args = ap.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds=10)).decode()
        (Path(tmp) / "web.yml").write_text(yaml.safe_dump(
            {"basic_auth_users": {"prometheus": hashed}}))
        off = {n: {"enabled": False} for n in
               BUILTIN_COLLECTORS}
        (Path(tmp) / "exporter.yml").write_text(yaml.safe_dump({
            "targets": [{"name": "bench", "dsn": ADMIN}], "state_dir": tmp,
            "collectors": off, "scheduler": {"start_jitter": "0s"}}))
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "--log-level", "warning", "exporter",
             "--config", f"{tmp}/exporter.yml", "--web.config.file", f"{tmp}/web.yml",
             "--web.listen-address", f"127.0.0.1:{port}"], cwd=ROOT)
        url = f"http://127.0.0.1:{port}/metrics"
        good = header("prometheus", "right")
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if status(url, good) == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("exporter did not start")
                time.sleep(0.2)
            base = scrape(url, good, args.duration)
            stop = threading.Event()
            counts = {"401": 0, "429": 0}

            def attacker(k: int) -> None:
                i = 0
                while not stop.is_set():
                    code = status(url, header("prometheus", f"guess-{k}-{i}"))
                    counts[str(code)] = counts.get(str(code), 0) + 1
                    i += 1

            threads = [threading.Thread(target=attacker, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            attacked = scrape(url, good, args.duration)
            stop.set()
            for t in threads:
                t.join()
            time.sleep(2)  # let the failed-attempt budget refill
            known, unknown = timed_401(url, "prometheus"), timed_401(url, "nobody")
        finally:
            proc.terminate()
            proc.wait(10)
    results = {"p50_ms_alone": base["p50_ms"], "p99_ms_alone": base["p99_ms"],
               "p50_ms_attacked": attacked["p50_ms"], "p99_ms_attacked": attacked["p99_ms"],
               "attack_401": counts["401"], "attack_429": counts["429"],
               "known_user_401_ms": known, "unknown_user_401_ms": unknown}
    for k, v in results.items():
        print(f"{k:<22}{v:>10.2f}")
    save_results("exporter_auth", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
