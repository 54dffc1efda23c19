"""Retention trims every monitoring table to its setting in short batches while the
application writes, and the writers never wait on the trimmer."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from pghelpers import one

from vigil.core import pg
from vigil.maintain import worker
from vigil.maintain.storage import TIME_COLUMNS

OLD = 2000  # rows per table older than retention
SEED = {
    "access_log": "INSERT INTO vigil_monitor.access_log (ts, actor_id, resource, action, success)"
                  " SELECT now() - interval '2 h' - s * interval '1 s', 'a' || s %% 7, 'r', 'read',"
                  " s %% 5 <> 0 FROM generate_series(1, %(n)s) s",
    "phi_access_patterns": "INSERT INTO vigil_monitor.phi_access_patterns (accessed_at, "
                           "table_name, actor_id, operation, duration_ms) SELECT now() - "
                           "interval '2 h' - s * interval '1 s', 't', 'a', 'read', 1 "
                           "FROM generate_series(1, %(n)s) s",
    "encryption_ops": "INSERT INTO vigil_monitor.encryption_ops (ts, operation, key_id, "
                      "duration_ms, success) SELECT now() - interval '2 h' - s * interval '1 s',"
                      " 'encrypt', 'k', 1, true FROM generate_series(1, %(n)s) s",
    "audit_write_metrics": 'INSERT INTO vigil_monitor.audit_write_metrics ("timestamp", '
                           "duration, table_name, operation) SELECT now() - interval '2 h' - "
                           "s * interval '1 s', '1 ms', 't', 'INSERT' "
                           "FROM generate_series(1, %(n)s) s",
}
WRITES = (
    "SELECT vigil_monitor.record_access('r', 'read', true)",
    "SELECT vigil_monitor.record_phi_access('public.t', 'read', 2, 1)",
    "SELECT vigil_monitor.record_encryption_op('encrypt', 'k', 1, true)",
    "INSERT INTO vigil_monitor.audit_write_metrics (duration, table_name, operation) "
    "VALUES ('1 ms', 'public.t', 'INSERT')",
)
# Any lock the writers asked for and did not get, or any wait on a lock.
WAITS = """
SELECT count(*) FROM pg_stat_activity a
WHERE a.application_name = 'vigil-test-writer'
  AND (a.wait_event_type = 'Lock'
       OR EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted))
"""


def _oldest_age_ok(dsn: str) -> dict[str, bool]:
    out = {}
    for table, col in TIME_COLUMNS.items():
        row = one(dsn, f'SELECT count(*) FROM vigil_monitor.{table} '
                       f'WHERE "{col}" < now() - interval \'1 hour\'')
        out[table] = row[0] == 0
    return out


def test_retention_trims_each_table_while_writers_never_wait(monitored_db: str,
                                                             maintainer_dsn: str) -> None:
    db = monitored_db
    with pg.connect(db) as conn:
        conn.execute("UPDATE vigil_monitor.settings SET value = '1 hour' "
                     "WHERE key LIKE 'retention_%'")
        for stmt in SEED.values():
            conn.execute(stmt, {"n": OLD})
    # every raw table starts with rows past retention (the rollups get theirs in the first pass)
    assert [t for t, ok in _oldest_age_ok(db).items() if ok] == ["access_rollup"]
    stop = threading.Event()
    writes = [0]
    waits: list[int] = []
    samples = [0]
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with pg.connect(db, application_name="vigil-test-writer") as conn:
                while not stop.is_set():
                    for w in WRITES:
                        conn.execute(w)
                    writes[0] += 1
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    def watcher() -> None:
        with pg.connect(db, application_name="vigil-test-watcher") as conn:
            while not stop.is_set():
                row = conn.execute(WAITS).fetchone()
                samples[0] += 1
                if row and int(str(row[0])):
                    waits.append(int(str(row[0])))

    threads = [threading.Thread(target=writer), threading.Thread(target=watcher)]
    for t in threads:
        t.start()
    try:
        with pg.connect(maintainer_dsn) as conn:
            before = writes[0]
            stats: Any = None
            for _ in range(5):  # rollups of the old rows are old too: a later pass trims them
                stats = worker.run_once(conn, batch=50)
                if all(_oldest_age_ok(db).values()):
                    break
            during = writes[0] - before
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors
    assert stats is not None
    assert all(_oldest_age_ok(db).values()), _oldest_age_ok(db)
    assert during > 0 and samples[0] > 10  # writers and watcher ran while it trimmed
    assert waits == []
    n = writes[0]
    for table in ("access_log", "phi_access_patterns", "encryption_ops"):  # new rows all kept
        assert one(db, f"SELECT count(*) FROM vigil_monitor.{table}") == (n,)
    trimmed = one(db, "SELECT rows_trimmed_total FROM vigil_monitor.maintenance_status()")[0]
    assert trimmed >= 4 * OLD
    assert one(db, "SELECT total_requests FROM vigil_monitor.security_access_metrics()") \
        == (OLD + n,)


def test_retention_leaves_rows_the_exporter_may_not_have_read(monitored_db: str,
                                                             maintainer_dsn: str) -> None:
    """An old-stamped row committed after a still-running transaction started is above the
    settled horizon: the exporter has not read it yet, so retention keeps it until it settles."""
    db = monitored_db
    with pg.connect(db) as conn:
        conn.execute("UPDATE vigil_monitor.settings SET value = '1 hour' "
                     "WHERE key = 'retention_phi_access_patterns'")
    with psycopg.connect(db) as early:
        early.execute("SELECT pg_current_xact_id()")  # holds the horizon back
        with pg.connect(db) as conn:
            conn.execute(SEED["phi_access_patterns"], {"n": 3})
        with pg.connect(maintainer_dsn) as conn:
            worker.run_once(conn)
        assert one(db, "SELECT count(*) FROM vigil_monitor.phi_access_patterns") == (3,)
        early.commit()
    with pg.connect(maintainer_dsn) as conn:
        worker.run_once(conn)
    assert one(db, "SELECT count(*) FROM vigil_monitor.phi_access_patterns") == (0,)
