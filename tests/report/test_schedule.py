"""`vigil report schedule`: builds yesterday after --at, exposes review status on /metrics."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from support.polling import free_port

from vigil.core import httpclient
from vigil.report import build
from vigil.report.schedule import Scheduler, serve
from vigil.report.store import ReportStore

pytestmark = pytest.mark.timeout(300)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def _value(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in exposition")


def test_builds_the_day_after_at_and_reports_the_unreviewed_age(
        known_prometheus: str, known_db: str, known_date: dt.date, tmp_path: Path) -> None:
    store = ReportStore(tmp_path / "reports")
    next_day = dt.datetime.combine(known_date + dt.timedelta(days=1), dt.time(),
                                   tzinfo=dt.UTC)
    clock = Clock(next_day + dt.timedelta(minutes=10))
    sched = Scheduler(store, build.Sources(known_prometheus, known_db), at=dt.time(0, 15),
                      verify_every=3600, clock=clock)
    sched.tick()
    assert store.dates() == []  # not yet 00:15
    assert _value(sched.exposition(), "vigil_report_unreviewed_age_seconds") == 0
    # the known Prometheus scrapes nothing and has no rules: verify finds problems
    assert _value(sched.exposition(), "vigil_metrics_verify_problems") > 0

    clock.now = next_day + dt.timedelta(minutes=20)
    sched.tick()
    assert store.dates() == [known_date.isoformat()]
    assert _value(sched.exposition(), "vigil_report_build_success") == 1
    clock.now += dt.timedelta(hours=3)
    sched.tick()  # already stored: nothing rebuilt
    text = sched.exposition()
    assert _value(text, "vigil_report_unreviewed_age_seconds") == 3 * 3600
    assert _value(text, "vigil_report_unreviewed") == 1
    assert _value(text, "vigil_report_chain_ok") == 1

    store.attest(known_date.isoformat(), "Dana", "", clock.now)
    port = free_port()
    server = serve(sched, "127.0.0.1", port)
    try:
        _, body = httpclient.request(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
    assert _value(body.decode(), "vigil_report_unreviewed_age_seconds") == 0
