"""The write probes decide what the policies would do without storing a row: PostgreSQL's
write counters (which the unaudited-writes control compares with the audit) stay at 0, where
a rolled-back write would count."""

from __future__ import annotations

import psycopg

from vigil import demo
from vigil.security import scope, writeprobe


def _written(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[object, ...]:
    row = conn.execute("SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables "
                       "WHERE relname = 'Contact'").fetchone()
    assert row is not None
    return tuple(row)


def test_probes_give_the_policies_verdict_and_write_nothing(
        shared_demo: demo.DemoInfo) -> None:
    with psycopg.connect(shared_demo.admin_dsn, autocommit=True) as conn:
        table = next(t for t in scope.read(conn).tables if t.name == 'public."Contact"')
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL ROLE vigil_demo_app")
            conn.execute("SELECT set_config('app.current_tenant_id', 'tenant-1', true)")
            assert writeprobe.insert(conn, table, "tenant-1") == ("admitted", "NotNullViolation")
            assert writeprobe.insert(conn, table, "tenant-2") == ("refused",
                                                                  "insufficient_privilege")
            assert writeprobe.reaches(conn, "DELETE", table, "tenant-1")
            assert writeprobe.reaches(conn, "UPDATE", table, "tenant-1")
            assert not writeprobe.reaches(conn, "DELETE", table, "tenant-2")
            assert not writeprobe.reaches(conn, "UPDATE", table, "tenant-2")
            conn.execute("RESET ROLE")
            assert _written(conn) == (0, 0, 0)
            with conn.transaction(force_rollback=True):  # what the probes avoid
                conn.execute("DELETE FROM \"Contact\" WHERE tenant_id = 'tenant-2'")
            assert _written(conn) != (0, 0, 0)
