"""``vigil report schedule``: the daily report and the hourly checks, and their metrics.

One small loop (``vigil up`` runs it as the ``reporter`` part; cron or a CronJob can run
``vigil report daily`` and ``vigil metrics verify`` instead, see docs/report.md):

- after ``--at`` (UTC, default 00:15) it builds yesterday's report if it is not stored yet,
  retrying every tick until it succeeds;
- every ``--verify-every`` seconds it runs ``vigil metrics verify`` and ``vigil report verify``;
- it serves ``/metrics`` for Prometheus (job ``vigil-report``): how long the oldest report has
  waited for review (``VigilReportUnreviewed``), whether the stored chain verifies
  (``VigilReportChainBroken``) and whether the last build and check succeeded.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vigil.core.errors import VigilError
from vigil.report import build
from vigil.report.store import ReportStore

log = logging.getLogger("vigil.report")
Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Scheduler:
    def __init__(self, store: ReportStore, sources: build.Sources, *, at: dt.time,
                 verify_every: float, clock: Clock = utcnow) -> None:
        self.store, self.sources, self.at = store, sources, at
        self.verify_every, self.clock = verify_every, clock
        self.last_verify: dt.datetime | None = None
        self.build_ok = 1.0
        self.verify_problems = 0.0
        self.verify_ok = 1.0
        self.lock = threading.Lock()

    def tick(self) -> None:
        now = self.clock()
        due = dt.datetime.combine(now.date(), self.at, tzinfo=dt.UTC)
        day = build.yesterday(now)
        if now >= due and day.isoformat() not in self.store.dates():
            try:
                if not any(d > day.isoformat() for d in self.store.dates()):
                    build.daily(self.sources, day, self.store, now=now)
                    log.info("daily report stored", extra={"date": day.isoformat()})
                self.build_ok = 1.0
            except VigilError as exc:
                self.build_ok = 0.0
                log.error("daily report failed: %s", exc)
        if self.last_verify is None or (now - self.last_verify).total_seconds() >= \
                self.verify_every:
            self.last_verify = now
            self._verify(now)

    def _verify(self, now: dt.datetime) -> None:
        from vigil.core.prom import Prom
        from vigil.metrics.verify import verify

        try:
            problems, _ = verify(Prom(self.sources.prometheus_url), now.timestamp())
            self.verify_problems, self.verify_ok = float(len(problems)), 1.0
            for p in problems:
                log.warning("metrics verify: %s", p.line())
        except VigilError as exc:
            self.verify_ok = 0.0
            log.error("metrics verify could not run: %s", exc)

    def exposition(self) -> str:
        s = self.store.status(self.clock())
        lines = []
        for name, value, help_ in (
                ("vigil_report_unreviewed_age_seconds", s["unreviewed_age_seconds"],
                 "Seconds since the oldest unreviewed daily report was generated (0: all "
                 "reviewed)."),
                ("vigil_report_unreviewed", s["unreviewed_reports"],
                 "Stored daily reports without an attestation of their current hash."),
                ("vigil_report_chain_ok", s["chain_ok"],
                 "1 if the stored reports' hash chain verifies, 0 if not."),
                ("vigil_report_last_generated_timestamp_seconds",
                 s["last_generated_timestamp_seconds"], "When the newest report was built."),
                ("vigil_report_build_success", self.build_ok,
                 "1 if the last scheduled daily report build succeeded."),
                ("vigil_metrics_verify_success", self.verify_ok,
                 "1 if the last `vigil metrics verify` could ask Prometheus."),
                ("vigil_metrics_verify_problems", self.verify_problems,
                 "Problems (stale collectors, targets, rule groups) the last verify found.")):
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {value}"]
        return "\n".join(lines) + "\n"


def serve(scheduler: Scheduler, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in ("/metrics", "/-/healthy"):
                self.send_error(404)
                return
            with scheduler.lock:
                body = (scheduler.exposition() if self.path == "/metrics" else "ok\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(scheduler: Scheduler, host: str, port: int, tick_seconds: float = 60.0) -> None:
    server = serve(scheduler, host, port)
    stop = threading.Event()
    try:
        while not stop.is_set():
            try:
                scheduler.tick()  # not under the lock: a long build must not block a scrape
            except Exception:  # the loop never dies; the failure shows on /metrics and in the log
                scheduler.build_ok = 0.0
                log.exception("scheduled report tick failed")
            stop.wait(tick_seconds)
    finally:
        server.shutdown()
