"""Fixtures: a real Prometheus holding a known day, and a real database with that day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import prom

from vigil.core import pg
from vigil.schema import installer

from .feed import day_start, make_tsdb


@pytest.fixture(scope="module")
def known_date() -> dt.date:
    # Yesterday: recent enough for a Prometheus with 1-day retention to keep its blocks.
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date()

@pytest.fixture(scope="module")
def known_prometheus(known_date: dt.date,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    wd = tmp_path_factory.mktemp("prom-known-day")
    make_tsdb(known_date, wd / "data")
    config = wd / "prometheus.yml"
    config.write_text("global:\n  evaluation_interval: 1m\nscrape_configs: []\n")
    proc = prom.start_prometheus(config, workdir=wd)
    try:
        yield proc.url
    finally:
        proc.stop()

ACCESS = (  # (minute of the day, tenant, actor, success)
    (60, "t1", "a1", True), (61, "t1", "a1", False), (62, "t1", "a1", True),
    (600, "t2", "a2", True), (601, "t2", "a2", True),
)
PHI = (  # (minute of the day, actor, table, rows read)
    (120, "a1", "Deal", 5),     # 02:00: off hours
    (600, "a2", "Deal", 50),    # 10:00
    (601, "a2", "Contact", 7),
)

def fill_day(dsn: str, date: dt.date) -> None:
    """The known day's access rows, plus one row the day before that must not count."""
    s = day_start(date)

    def ts(minute: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(s + 60 * minute, dt.UTC)

    with pg.connect(dsn) as conn:
        for minute, tenant, actor, ok in (*ACCESS, (-5, "t9", "a9", True)):
            conn.execute("INSERT INTO vigil_monitor.access_log (ts, tenant_id, actor_id, "
                         "resource, action, success) VALUES (%s, %s, %s, 'r', 'read', %s)",
                         (ts(minute), tenant, actor, ok))
        for minute, actor, table, rows in PHI:
            conn.execute("INSERT INTO vigil_monitor.phi_access_patterns (accessed_at, "
                         "table_name, tenant_id, actor_id, operation, duration_ms, row_count) "
                         "VALUES (%s, %s, 't1', %s, 'SELECT', 3, %s)",
                         (ts(minute), table, actor, rows))

@pytest.fixture
def known_db(fresh_db: str, known_date: dt.date) -> str:
    installer.install(fresh_db)
    fill_day(fresh_db, known_date)
    return fresh_db

@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "reports"
