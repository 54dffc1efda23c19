"""Access and encryption totals come from the maintainer's rollup plus the unrolled tail:
exact, each committed row once, whatever order transactions commit in, and unchanged when
retention deletes the raw rows."""

from __future__ import annotations

import psycopg
from pghelpers import one

from vigil.core import pg
from vigil.maintain import worker

ACCESS = "SELECT vigil_monitor.record_access('r', 'read', %s)"


def metrics(dsn: str) -> tuple[int, int]:
    row = one(dsn, "SELECT total_requests, failed_attempts "
                   "FROM vigil_monitor.security_access_metrics()")
    return int(row[0]), int(row[1])


def rolled(dsn: str) -> tuple[int, int]:
    row = one(dsn, "SELECT rows_total, failed_total FROM vigil_monitor.rollup_state "
                   "WHERE source = 'access_log'")
    return int(row[0]), int(row[1])


def roll(dsn: str, batch: int = 10_000) -> None:
    with pg.connect(dsn) as conn:
        worker.run_once(conn, batch=batch)


def test_counts_are_exact_with_out_of_order_commits(monitored_db: str,
                                                     maintainer_dsn: str) -> None:
    db = monitored_db
    with psycopg.connect(db) as early:  # takes its xid and ids first, commits last
        early.execute(ACCESS, (True,))
        early.execute(ACCESS, (False,))
        early.execute("SELECT pg_current_xact_id()")
        with psycopg.connect(db, autocommit=True) as late:
            for ok in (True, True, False):
                late.execute(ACCESS, (ok,))
        assert metrics(db) == (3, 1)  # the committed rows, read from the tail
        roll(maintainer_dsn)  # the horizon is held by `early`: nothing settled to roll
        assert rolled(db) == (0, 0)
        assert metrics(db) == (3, 1)
        early.commit()
    assert metrics(db) == (5, 2)
    for _ in range(3):  # batches of 2 stop inside transactions; repeated passes count nothing twice
        roll(maintainer_dsn, batch=2)
        assert metrics(db) == (5, 2)
    assert rolled(db) == (5, 2)
    assert one(db, "SELECT sum(requests), sum(failed) FROM vigil_monitor.access_rollup") == (5, 2)

    with pg.connect(db) as conn:  # retention removes every raw row: the counters stay
        conn.execute("UPDATE vigil_monitor.settings SET value = '0 s' "
                     "WHERE key = 'retention_access_log'")
        conn.execute(ACCESS, (False,))
    roll(maintainer_dsn)
    assert one(db, "SELECT count(*) FROM vigil_monitor.access_log") == (0,)
    assert metrics(db) == (6, 3)


def test_encryption_failures_are_counted_once_and_survive_retention(
        monitored_db: str, maintainer_dsn: str) -> None:
    db = monitored_db
    with pg.connect(db) as conn:
        for ok in (True, False, False):
            conn.execute("SELECT vigil_monitor.record_encryption_op('encrypt', 'k', 1, %s)", (ok,))
        conn.execute("UPDATE vigil_monitor.settings SET value = '0 s' "
                     "WHERE key = 'retention_encryption_ops'")
    failed = "SELECT failed_operations FROM vigil_monitor.security_encryption_status()"
    assert one(db, failed) == (2,)
    roll(maintainer_dsn)
    roll(maintainer_dsn)
    assert one(db, "SELECT count(*) FROM vigil_monitor.encryption_ops") == (0,)
    assert one(db, failed) == (2,)
