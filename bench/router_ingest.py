"""Router benchmarks (not a test): webhook ingest throughput and step-firing lateness.

    .venv/bin/python bench/router_ingest.py [--seconds 15] [--senders 8] [--client wrk|aiohttp]

1. Ingest: a real `vigil router` process on a fresh database; 8 concurrent senders post
   Alertmanager v4 payloads with 5 alerts each, half new alerts and half repeats of
   alerts already stored; every 200 is durable (committed). Prints requests/s, alerts/s,
   p50, p99. The load generator is `wrk -t2 -c8` driven by bench/router_ingest.lua (C, so
   it takes less of the shared CPU), or with --client aiohttp the original Python client.
   With wrk, non-2xx responses are counted and printed, and durability is checked after
   the run: alerts stored vs new alerts acknowledged (2xx) and sent.
2. Firing: 10,000 open alerts with a step each, due in a burst and spread over 10 s; the
   engine (apscheduler-free loop calling tick every 0.5 s, as the router does) claims
   them on the real clock. Prints lateness (fired_at - due_at) p50, p99, max.
3. Delivery: a real `vigil router` process (engine and outbox sender as in production,
   default outbox settings) and 10,000 open alerts whose steps all fall due within 1 s,
   spread over four targets (or one, --delivery-targets 1), delivered to a local HTTP
   sink in its own process. Prints the time from due to delivered (outbox.sent_at, i.e.
   recorded after the sink's 200) p50, p99, max, and deliveries/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import yaml
from benchlib import RESULTS  # bench/ is sys.path[0]

REPO = Path(__file__).resolve().parents[1]
LUA = Path(__file__).resolve().with_suffix(".lua")
sys.path.insert(0, str(REPO))

from router.config import load_escalation  # noqa: E402
from router.engine import Engine  # noqa: E402
from router.matrix import Matrix  # noqa: E402
from router.metrics import Metrics  # noqa: E402
from router.migrate import migrate  # noqa: E402
from vigil.core import pg  # noqa: E402
from vigil.core.clock import SystemClock  # noqa: E402

TOKEN = "bench-token-" + uuid.uuid4().hex[:8]


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def alert(name: str, starts: str) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": name, "severity": "P3", "target": "b"},
            "annotations": {"summary": "bench"}, "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": name}


async def sender(url: str, n: int, stop: float, lat: list[float], codes: dict[int, int]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    seq = 0
    # A request unanswered for 30 s fails the run loudly instead of hanging it.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
        while time.monotonic() < stop:
            seq += 1
            # Even requests: 5 new alerts. Odd requests: the 5 alerts of the previous one.
            base = seq if seq % 2 else seq - 1
            body = json.dumps({
                "version": "4", "groupKey": "{}", "status": "firing", "receiver": "vigil",
                "alerts": [alert(f"s{n}-r{base}-a{i}", "2026-01-01T00:00:00Z")
                           for i in range(5)]}).encode()
            t0 = time.perf_counter()   # the request as Alertmanager sends it: bytes ready
            async with s.post(url, data=body, headers=headers) as r:
                await r.read()
                codes[r.status] = codes.get(r.status, 0) + 1
            lat.append(time.perf_counter() - t0)


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, and say so if the process does not exit within 15 s (then SIGKILL)."""
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        print(f"WARNING: pid {proc.pid} did not exit 15 s after SIGTERM; killed", flush=True)
        proc.kill()
        await proc.wait()


async def aiohttp_load(url: str, seconds: float, senders: int) -> dict[str, Any]:
    """The original Python load generator: one process, `senders` coroutines."""
    lat: list[float] = []
    codes: dict[int, int] = {}
    start = time.monotonic()
    await asyncio.gather(*[sender(url, n, start + seconds, lat, codes)
                           for n in range(senders)])
    took = time.monotonic() - start
    return {"requests": len(lat), "took": took,
            "p50_ms": pct(lat, 0.5) * 1000, "p99_ms": pct(lat, 0.99) * 1000,
            "ok": codes.get(200, 0), "errors": sum(v for k, v in codes.items() if k != 200),
            "codes": {k: v for k, v in codes.items() if k != 200}}


async def wrk_load(url: str, seconds: float, senders: int) -> dict[str, Any]:
    """`wrk -t2 -c<senders>` with bench/router_ingest.lua; its output is echoed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found (bench/run.sh installs it), or use --client aiohttp")
    cmd = [wrk, f"-t{min(2, senders)}", f"-c{senders}", f"-d{max(1, round(seconds))}s",
           "--latency", "--timeout", "30s", "-s", str(LUA),
           "-H", f"Authorization: Bearer {TOKEN}", "-H", "Content-Type: application/json", url]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out = (await proc.communicate())[0].decode()
    print("  " + out.rstrip().replace("\n", "\n  ").replace(TOKEN, "<token>"), flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"wrk exited {proc.returncode}")
    m = re.search(r"^VIGIL-WRK (.*)$", out, re.M)
    if m is None:
        raise SystemExit("no VIGIL-WRK line in wrk's output (done() did not run?)")
    kv = dict(item.split("=", 1) for item in m.group(1).split())
    n = {k: int(v) for k, v in kv.items() if k != "codes"}
    non2xx_line = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = sum(n[k] for k in ("connect_err", "read_err", "write_err", "timeout_err"))
    codes = {} if kv["codes"] == "-" else {
        int(c): int(v) for part in kv["codes"].split(";") for c, v in
        (cv.split(":") for cv in part.split(","))}
    return {"requests": n["requests"], "took": n["duration_us"] / 1e6,
            "p50_ms": n["p50_us"] / 1000, "p99_ms": n["p99_us"] / 1000,
            "max_ms": n["max_us"] / 1000,
            "ok": n["requests"] - n["non2xx"], "errors": n["non2xx"] + socket_errors,
            "non2xx": n["non2xx"], "wrk_non2xx": int(non2xx_line.group(1)) if non2xx_line else 0,
            "socket_errors": socket_errors, "codes": codes, "sent": n["sent"],
            "new_sent": 5 * n["new_sent"], "acked_new": n["acked_new"],
            "acked_dup": n["acked_dup"], "unparsed": n["unparsed"]}


async def bench_ingest(dsn: str, seconds: float, senders: int, tmp: Path,
                       pool: int = 8, *, client: str = "wrk") -> dict[str, Any]:
    port = 18191
    cfg = {"listen": {"host": "127.0.0.1", "port": port},
           "database": {"dsn": dsn, "pool_min": min(4, pool), "pool_max": pool},
           "auth": {"bearer_token": TOKEN},
           "escalation_file": str(REPO / "config" / "escalation.yml"),
           "engine": {"tick_interval": "500ms"}, "outbox": {"poll_interval": "500ms"}}
    (tmp / "router.yml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "VIGIL_SINK_URL": "http://127.0.0.1:9"}  # deliveries fail: fine
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vigil.cli", "--log-level", "error", "router", "--config",
        str(tmp / "router.yml"), cwd=REPO, env=env)
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(100):
                try:
                    async with s.get(f"http://127.0.0.1:{port}/-/ready") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        url = f"http://127.0.0.1:{port}/api/v1/alertmanager"
        load = wrk_load if client == "wrk" else aiohttp_load
        busy0, total0 = cpu_times()
        res = await load(url, seconds, senders)
        busy1, total1 = cpu_times()
    finally:
        await stop(proc)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*), sum(duplicates) FROM vigil_router.alerts").fetchone()
    assert row
    took = res.pop("took")
    return {**res, "rps": res["requests"] / took, "aps": 5 * res["requests"] / took,
            "alerts_stored": row[0], "duplicates": row[1] or 0,
            "cpu_busy": (busy1 - busy0) / max(1, total1 - total0)}


async def bench_firing(dsn: str, n: int, spread: float) -> dict[str, float]:
    from psycopg_pool import AsyncConnectionPool

    with psycopg.connect(dsn, autocommit=True) as conn:
        t0 = datetime.now(UTC) + timedelta(seconds=3)
        conn.execute("""
            INSERT INTO vigil_router.alerts (fingerprint, starts_at, alertname, severity, labels,
                annotations, status, received_at, last_seen_at, response_deadline)
            SELECT 'f' || i, now(), 'Bench', 'P2', '{}', '{}', 'open', now(), now(),
                   now() + interval '1 hour'
            FROM generate_series(1, %s) i""", (n,))
        conn.execute("""
            INSERT INTO vigil_router.steps (alert_id, kind, step_no, due_at, targets)
            SELECT id, 'step', 2, %s + (id %% 1000) * (%s / 1000.0) * interval '1 second',
                   ARRAY['team-lead'] FROM vigil_router.alerts""", (t0, spread))
        conn.execute("ANALYZE vigil_router.steps")
    esc = load_escalation(REPO / "config" / "escalation.yml", env={"VIGIL_SINK_URL": "x"})
    async with AsyncConnectionPool(dsn, min_size=2, max_size=4, open=False,
                                   kwargs={"autocommit": True}) as pool:
        await pool.open(wait=True)
        engine = Engine(pool, Matrix(esc), SystemClock(), Metrics())
        deadline = time.monotonic() + spread + 15
        while time.monotonic() < deadline:
            await engine.tick()
            with psycopg.connect(dsn) as conn:
                left = conn.execute("SELECT count(*) FROM vigil_router.steps "
                                    "WHERE state = 'pending'").fetchone()
            if left == (0,):
                break
            await asyncio.sleep(0.5)
    with psycopg.connect(dsn) as conn:
        late = [r[0] for r in conn.execute(
            "SELECT extract(epoch FROM fired_at - due_at)::float8 FROM vigil_router.steps "
            "WHERE state = 'fired'")]
    return {"fired": len(late), "p50_s": pct(late, 0.5), "p99_s": pct(late, 0.99),
            "max_s": max(late)}


SINK = """
import sys
from aiohttp import web

async def notify(request):
    await request.read()
    return web.Response(text="ok")

app = web.Application()
app.router.add_post("/notify", notify)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

TARGETS = ("security-team", "team-lead", "on-call", "queue")


async def wait_ready(url: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(200):
            assert proc.returncode is None, "process exited"
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} not ready")


async def bench_delivery(dsn: str, n: int, tmp: Path, targets: int) -> dict[str, float]:
    port, sink_port = 18192, 18193
    cfg = {"listen": {"host": "127.0.0.1", "port": port},
           "database": {"dsn": dsn, "pool_min": 2, "pool_max": 8},
           "auth": {"bearer_token": TOKEN},
           "escalation_file": str(REPO / "config" / "escalation.yml")}
    (tmp / "router-delivery.yml").write_text(yaml.safe_dump(cfg))
    sink = await asyncio.create_subprocess_exec(sys.executable, "-c", SINK, str(sink_port))
    env = {**os.environ, "VIGIL_SINK_URL": f"http://127.0.0.1:{sink_port}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vigil.cli", "--log-level", "error", "router", "--config",
        str(tmp / "router-delivery.yml"), cwd=REPO, env=env)
    try:
        await wait_ready(f"http://127.0.0.1:{sink_port}/", sink)
        await wait_ready(f"http://127.0.0.1:{port}/-/ready", proc)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("""
                INSERT INTO vigil_router.alerts (fingerprint, starts_at, alertname, severity,
                    labels, annotations, status, received_at, last_seen_at, response_deadline)
                SELECT 'd' || i, now(), 'Bench', 'P2', '{"alertname": "Bench"}', '{}', 'open',
                       now(), now(), now() + interval '1 hour'
                FROM generate_series(1, %s) i""", (n,))
            conn.execute("""
                INSERT INTO vigil_router.steps (alert_id, kind, step_no, due_at, targets)
                SELECT id, 'step', 2, now() + interval '1 second'
                                      + (id %% 1000) * interval '1 millisecond',
                       ARRAY[(%s::text[])[1 + id %% %s]]
                FROM vigil_router.alerts""", (list(TARGETS[:targets]), targets))
            start = time.monotonic()
            while time.monotonic() - start < 300:
                row = conn.execute("SELECT count(*) FROM vigil_router.outbox "
                                   "WHERE state = 'sent'").fetchone()
                if row and row[0] >= n:
                    break
                await asyncio.sleep(0.2)
            late = [r[0] for r in conn.execute("""
                SELECT extract(epoch FROM o.sent_at - s.due_at)::float8
                FROM vigil_router.outbox o JOIN vigil_router.steps s ON s.alert_id = o.alert_id
                WHERE o.state = 'sent'""")]
            span = conn.execute("SELECT extract(epoch FROM max(o.sent_at) - min(s.due_at)) "
                                "FROM vigil_router.outbox o JOIN vigil_router.steps s "
                                "ON s.alert_id = o.alert_id").fetchone()
    finally:
        for p in (proc, sink):
            await stop(p)
    total = float(span[0]) if span and span[0] is not None else float("nan")
    return {"delivered": len(late), "p50_s": pct(late, 0.5), "p99_s": pct(late, 0.99),
            "max_s": max(late), "span_s": total, "per_s": len(late) / total}


def report_ingest(r: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"ingest ({args.client} client): {args.senders} senders x 5 alerts/request, "
          f"half new half repeats, {args.seconds:g}s: {r['requests']} requests "
          f"({r['ok']} ok, {r['errors']} not)")
    if r["codes"]:
        print(f"  NON-2XX RESPONSES: {r['codes']}")
    if args.client == "wrk":
        print(f"  non-2xx {r['non2xx']} (wrk's own Non-2xx line: {r['wrk_non2xx']}), "
              f"socket errors/timeouts {r['socket_errors']}, 2xx bodies unparsed "
              f"{r['unparsed']}")
    print(f"  requests/s {r['rps']:.0f}   alerts/s {r['aps']:.0f}   "
          f"p50 {r['p50_ms']:.1f} ms   p99 {r['p99_ms']:.1f} ms   "
          f"(stored {r['alerts_stored']} alerts, {r['duplicates']} repeats; "
          f"machine CPU {r['cpu_busy']:.0%} busy, everything included)")
    if args.client == "wrk":
        # Every 2xx that reported k new alerts promised k durable rows; requests still
        # in flight when wrk stopped may have been committed without being counted.
        durable = r["acked_new"] <= r["alerts_stored"] <= r["new_sent"]
        print(f"  durability: {r['new_sent']} new alerts sent, {r['acked_new']} "
              f"acknowledged as new by a 2xx, {r['alerts_stored']} stored "
              f"({r['acked_dup']} repeats acknowledged, {r['duplicates']} counted): "
              f"{'OK' if durable else 'MISMATCH'}")
        if not durable:
            print("  DURABILITY MISMATCH: stored alerts outside [acknowledged, sent]")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--senders", type=int, default=8)
    ap.add_argument("--open-alerts", type=int, default=10_000)
    ap.add_argument("--pool", type=int, default=8, help="router database pool size")
    ap.add_argument("--deliveries", type=int, default=10_000,
                    help="due steps delivered to a local sink (0: skip)")
    ap.add_argument("--delivery-targets", type=int, default=4, choices=range(1, 5),
                    help="targets the delivery burst is spread over")
    ap.add_argument("--client", choices=("wrk", "aiohttp"), default="wrk",
                    help="ingest load generator: wrk + bench/router_ingest.lua, or the "
                         "Python aiohttp client (in-process, ~0.3 ms CPU per request)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} before the run")
    admin = pg.admin_dsn()
    name = f"vigil_bench_router_{uuid.uuid4().hex[:6]}"
    pg.ensure_database(admin, name)
    dsn = pg.with_dbname(admin, name)
    tmp = RESULTS
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        migrate(dsn)
        r = await bench_ingest(dsn, args.seconds, args.senders, tmp, args.pool, client=args.client)
        report_ingest(r, args)
        for label, spread in (("burst (all due within 1 s)", 1.0), ("spread over 10 s", 10.0)):
            fdb = f"{name}_f{int(spread)}"
            pg.ensure_database(admin, fdb)
            try:
                migrate(pg.with_dbname(admin, fdb))
                f = await bench_firing(pg.with_dbname(admin, fdb), args.open_alerts, spread)
            finally:
                pg.drop_database(admin, fdb)
            print(f"firing: {args.open_alerts} open alerts, {label}: fired {f['fired']}, "
                  f"lateness p50 {f['p50_s']:.3f} s  p99 {f['p99_s']:.3f} s  "
                  f"max {f['max_s']:.3f} s")
        if args.deliveries:
            ddb = f"{name}_d"
            pg.ensure_database(admin, ddb)
            try:
                migrate(pg.with_dbname(admin, ddb))
                d = await bench_delivery(pg.with_dbname(admin, ddb), args.deliveries, tmp,
                                         args.delivery_targets)
            finally:
                pg.drop_database(admin, ddb)
            print(f"delivery: {args.deliveries} steps due within 1 s, "
                  f"{args.delivery_targets} target(s), local sink: delivered {d['delivered']} "
                  f"in {d['span_s']:.2f} s ({d['per_s']:.0f}/s); due -> delivered "
                  f"p50 {d['p50_s']:.2f} s  p99 {d['p99_s']:.2f} s  max {d['max_s']:.2f} s")
    finally:
        pg.drop_database(admin, name)


if __name__ == "__main__":
    asyncio.run(main())
