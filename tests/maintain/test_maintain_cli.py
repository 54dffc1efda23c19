"""`vigil db maintain`: --once for cron, the long-lived loop (outage, SIGTERM), least privilege,
and `vigil db status` showing each monitoring table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable

import psycopg
import pytest
from pghelpers import one, query, wait_for
from support.polling import child, killed_on_exit

from vigil import cli, schema
from vigil.core import pg
from vigil.demo.app import role_dsn
from vigil.schema.contract import DEFAULT_MAINTAINER_ROLE, MAINTAIN_FUNCTIONS


def test_once_rolls_up_trims_and_records_the_run(monitored_db: str, maintainer_dsn: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pg.connect(monitored_db) as conn:
        for ok in (True, False, True):
            conn.execute("SELECT vigil_monitor.record_access('r', 'read', %s)", (ok,))
    assert cli.main(["db", "maintain", "--once", "--dsn", maintainer_dsn]) == 0
    assert "rolled up 3 rows" in capsys.readouterr().out
    assert one(monitored_db, "SELECT rows_total, failed_total FROM vigil_monitor.rollup_state "
                             "WHERE source = 'access_log'") == (3, 1)
    age, lag, trimmed, err = one(monitored_db, "SELECT * FROM vigil_monitor.maintenance_status()")
    assert age < 60 and lag == 0 and trimmed == 0 and err is None


def test_maintenance_functions_are_not_public_and_the_role_reads_no_table(
        monitored_db: str, maintainer_dsn: str) -> None:
    public = query(monitored_db, """
        SELECT p.oid::regprocedure::text FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'vigil_monitor'
          AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
                                           WHERE a.grantee = 0))""")
    assert public == []
    for fn in MAINTAIN_FUNCTIONS:
        assert one(monitored_db, "SELECT has_function_privilege(%s, %s, 'EXECUTE')",
                   (DEFAULT_MAINTAINER_ROLE, f"vigil_monitor.{fn}")) == (True,)
    with psycopg.connect(maintainer_dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM vigil_monitor.access_log")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT vigil_monitor.record_access('r', 'read', true)")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), \
            psycopg.connect(role_dsn(monitored_db, "vigil_exporter"), autocommit=True) as conn:
        conn.execute("SELECT vigil_monitor.maintain_trim('access_log', 1)")


def test_loop_waits_out_an_outage_and_stops_on_sigterm(
        make_database: Callable[[str], str], admin_dsn: str) -> None:
    name = f"vigil_late_{uuid.uuid4().hex[:10]}"
    target = role_dsn(pg.with_dbname(admin_dsn, name), DEFAULT_MAINTAINER_ROLE)
    proc = child(  # the database does not exist yet: an outage from the start
        [sys.executable, "-m", "vigil.cli", "db", "maintain", "--dsn", target,
         "--interval", "0.2", "--retry-max", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    with killed_on_exit(proc):
        wait_for(lambda: proc.stderr.readline() if proc.stderr else "",
                 lambda line: "database unavailable" in line or proc.poll() is not None)
        assert proc.poll() is None  # still running, retrying
        pg.ensure_database(admin_dsn, name)
        db = pg.with_dbname(admin_dsn, name)
        try:
            with killed_on_exit(proc):  # before the database is dropped: it holds a session
                schema.install(db)
                wait_for(lambda: one(db, "SELECT last_run_at IS NOT NULL, last_error "
                                         "FROM vigil_monitor.maintenance_state"),
                         lambda r: r == (True, None))
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=20) == 0
        finally:
            pg.drop_database(admin_dsn, name)


def test_db_status_shows_size_oldest_row_and_retention(
        monitored_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pg.connect(monitored_db) as conn:
        conn.execute("SELECT vigil_monitor.record_access('r', 'read', true)")
    # 1: nothing is registered as PHI in this bare install, which db status names (#9)
    assert cli.main(["db", "status", "--dsn", monitored_db]) == 1
    out = capsys.readouterr().out
    storage = out.split("monitoring tables")[1].split("not monitored")[0]
    lines = {ln.split()[0]: ln for ln in storage.splitlines() if ln.startswith("  ")}
    assert set(lines) == {"access_log", "phi_access_patterns", "encryption_ops",
                          "audit_write_metrics", "access_rollup"}
    assert "retention 30 days" in lines["access_log"] and "oldest 20" in lines["access_log"]
    assert "oldest empty" in lines["encryption_ops"]
