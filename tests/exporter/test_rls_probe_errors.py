"""A lock on an RLS table makes the rls run fail with reason probe and keeps the table's last
value, instead of the series vanishing as if healthy (#15 item 10, migration 010)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from exporter_helpers import exposition, run, value

from exporter.config import BUILTIN_COLLECTORS, build_config
from exporter.scheduler import Exporter
from vigil import demo
from vigil.core import pg


async def test_a_locked_rls_table_fails_the_run_and_keeps_its_series(
        demo_db: demo.DemoInfo, tmp_path: Path) -> None:
    cfg = build_config({"targets": [{"name": "demo", "dsn": demo_db.exporter_dsn}],
                        "state_dir": str(tmp_path), "scheduler": {"start_jitter": 0},
                        "collectors": {n: {"enabled": n == "rls"} for n in
                                       BUILTIN_COLLECTORS}})
    exp = Exporter(cfg)
    await exp.start(schedule=False)
    try:
        assert await run(exp, "rls", "demo")
        before = value(exposition(exp), "vigil_rls_overhead_seconds", table="Deal")
        assert before is not None
        with psycopg.connect(demo_db.admin_dsn) as locker:
            locker.execute('LOCK TABLE public."Deal" IN ACCESS EXCLUSIVE MODE')
            assert not await run(exp, "rls", "demo")
            s = exposition(exp)
            assert value(s, "vigil_rls_overhead_seconds", table="Deal") == before
            assert value(s, "vigil_collector_success", collector="rls") == 0
            assert value(s, "vigil_collector_errors_total", collector="rls",
                         reason="probe") == 1
            assert value(s, "vigil_up", target="demo") == 1
            with pg.connect(demo_db.admin_dsn) as conn:
                conn.execute("SET lock_timeout = '200ms'")
                rows = conn.execute(
                    "SELECT table_name, error FROM vigil_monitor.monitor_rls_overhead(1, 0) "
                    "WHERE error IS NOT NULL").fetchall()
            assert ("Deal", "lock_not_available") in rows
        assert await run(exp, "rls", "demo")
    finally:
        await exp.stop()


def test_the_runbook_query_still_works(demo_db: demo.DemoInfo) -> None:
    with pg.connect(demo_db.admin_dsn) as conn:
        cur = conn.execute("SELECT * FROM vigil_monitor.monitor_rls_overhead() "
                           "WHERE avg_overhead_ms > 50")
        assert [d.name for d in cur.description or ()][:6] == [
            "schema_name", "table_name", "policies", "avg_overhead_ms", "samples",
            "measured_at"]
