"""Alerts of the day from a real router database: response times against each level's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from router.migrate import migrate
from vigil.core import pg
from vigil.report import build
from vigil.report.gather_router import gather
from vigil.report.window import Day

DATE = dt.date(2026, 11, 2)
START = dt.datetime.combine(DATE, dt.time(), tzinfo=dt.UTC)
M = dt.timedelta(minutes=1)

ALERTS = (  # (fingerprint, severity, received minute, ack after, resolve after)
    ("a", "P1", 60, 10 * M, 50 * M),        # acked in time, resolved late (> 15 min)
    ("b", "P1", 120, 20 * M, None),          # acked late, never resolved
    ("c", "P3", 600, 30 * M, 60 * M),        # all in time (4 h)
    ("d", "P3", 1435, None, None),           # received at 23:55, still open: not late yet
    ("e", "P2", -30, 5 * M, 5 * M),          # the day before: not counted
)


@pytest.fixture
def router_db(fresh_db: str) -> str:
    migrate(fresh_db)
    with pg.connect(fresh_db) as conn:
        for fp, sev, minute, ack, resolve in ALERTS:
            received = START + minute * M
            conn.execute(
                "INSERT INTO vigil_router.alerts (fingerprint, starts_at, alertname, severity, "
                "labels, annotations, status, received_at, last_seen_at, response_deadline, "
                "acked_at, resolved_at, sla_breached) VALUES (%s, %s, 'X', %s, '{}', '{}', "
                "%s, %s, %s, %s, %s, %s, %s)",
                (fp, received, sev, "resolved" if resolve else "acked" if ack else "open",
                 received, received, received, ack and received + ack,
                 resolve and received + resolve, fp == "b"))
        conn.execute("INSERT INTO vigil_router.incidents (type, severity, description, "
                     "created_at, created_by, responded_at) VALUES ('breach', 'P1', 'x', %s, "
                     "'sec', %s)", (START + 61 * M, START + 70 * M))
    return fresh_db


def test_response_times_per_level_against_the_matrix(router_db: str) -> None:
    got = gather(router_db, Day(DATE))
    p1, p3 = got["by_severity"]["P1"], got["by_severity"]["P3"]
    assert set(got["by_severity"]) == {"P1", "P3"}
    assert (p1["received"], p1["acked"], p1["resolved"]) == (2, 2, 1)
    assert p1["time_to_ack_p50_seconds"] == 900 and p1["time_to_ack_max_seconds"] == 1200
    assert p1["time_to_resolve_max_seconds"] == 3000
    assert (p1["ack_late"], p1["resolve_late"], p1["sla_breaches"]) == (1, 2, 1)
    assert p1["response_time_seconds"] == 900
    assert (p3["received"], p3["ack_late"], p3["resolve_late"]) == (2, 0, 0)
    assert got["incidents"] == [{"severity": "P1", "opened": 1, "responded": 1,
                                 "time_to_respond_max_seconds": 540}]
    assert got["missing"] == []
    assert all(isinstance(v, int | float | None) for v in p1.values())


def test_without_a_router_database_the_section_says_missing() -> None:
    got = gather(None, Day(DATE))
    assert got["missing"] and "--router-dsn" in got["missing"][0]


def test_the_report_carries_the_router_section(
        router_db: str, known_prometheus: str, known_db: str, known_date: dt.date,
        tmp_path: Path) -> None:
    from vigil.report.store import ReportStore

    doc, folder = build.daily(build.Sources(known_prometheus, known_db, router_db),
                              known_date, ReportStore(tmp_path / "r"),
                              now=dt.datetime.now(dt.UTC))
    assert doc["alerts"]["router"] == {"by_severity": {}, "incidents": []}
    assert not any("--router-dsn" in m for m in doc["missing"])
    assert "Response times (router)" in (folder / "report.html").read_text()
