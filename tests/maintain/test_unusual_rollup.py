"""The unusual-pattern rule read from rollups + raw edges gives what 004's raw scan gave."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pghelpers import one, query

from vigil.core import pg
from vigil.maintain import worker

# 004_monitor.sql's unusual_access_patterns() as shipped, with clock_timestamp() fixed to
# %(now)s: the oracle is the raw scan's own text, never a copy that could drift from it.
_SQL_004 = (Path(__file__).resolve().parents[2] / "vigil/schema/sql/004_monitor.sql").read_text()
RAW_SCAN = re.search(
    r"FUNCTION vigil_monitor\.unusual_access_patterns\(\).*?LANGUAGE sql STABLE AS \$\$(.*?)\$\$;",
    _SQL_004, re.S).group(1).replace("clock_timestamp()", "%(now)s")  # type: ignore[union-attr]
ROLLUP = "SELECT * FROM vigil_monitor.unusual_access_patterns_at(%(now)s)"

# (actor, start before T, end before T, step, success) -> rows at T - start, ..., T - end.
HISTORY = """
INSERT INTO vigil_monitor.access_log (ts, actor_id, resource, action, success)
SELECT %(t)s - s * interval '1 ms', %(actor)s, 'r', 'read', %(ok)s
FROM generate_series(%(end)s::bigint, %(start)s::bigint, %(step)s::bigint) s
"""
H = 3_600_000  # ms
SCRIPT: tuple[tuple[str, int, int, int, bool], ...] = (
    ("steady", 25 * H, 300_001, 60_000, True),      # 1/min for a day, then a burst:
    ("steady", 299_000, 1_000, 2_500, True),        # 120 in the window -> rate rule
    ("busy", 25 * H, 1_000, 2_000, True),           # 150 per window all along: not unusual
    ("newcomer", 290_000, 1_000, 4_000, True),      # no history: judged by failures only
    ("intruder", 200_000, 10_000, 30_000, False),   # 7 failures in the window
    ("young", 2 * H, 300_001, 30_000, True),        # baseline from its first row, not 24 h
    ("young", 299_000, 1_000, 3_000, True),
    ("edges", 24 * H, 24 * H, 1, True),             # exactly at T - 24 h (excluded)
    ("edges", 24 * H - 1, 24 * H - 1, 1, True),
    ("edges", 300_000, 300_000, 1, True),           # exactly at T - win (baseline side)
    ("edges", 299_999, 200_000, 1_000, True),
)


def _rows(dsn: str, sql: str, now: datetime) -> list[tuple[Any, ...]]:
    out = query(dsn, sql, {"now": now})
    return sorted((r[0], r[1], r[2], None if r[3] is None else round(r[3], 6), r[4]) for r in out)


@pytest.mark.parametrize("offset_ms", [0, 17_400, 59_999, 60_000, 61_001])
def test_rollup_rule_matches_the_raw_scan(monitored_db: str, maintainer_dsn: str,
                                          offset_ms: int) -> None:
    db = monitored_db
    t0 = one(db, "SELECT date_trunc('minute', now()) + interval '23.4 s'")[0]
    with pg.connect(db) as conn:
        for actor, start, end, step, ok in SCRIPT:
            conn.execute(HISTORY, {"t": t0, "actor": actor, "start": start, "end": end,
                                   "step": step, "ok": ok})
    total = one(db, "SELECT count(*) FROM vigil_monitor.access_log")[0]
    now = t0 + timedelta(milliseconds=offset_ms)
    expected = _rows(db, RAW_SCAN, now)
    if offset_ms == 0:  # the script exercises both rules, and actors that stay quiet
        flagged = {(r[0], r[4]) for r in expected}
        assert {("steady", "rate_above_baseline"), ("young", "rate_above_baseline"),
                ("intruder", "failed_attempts")} <= flagged
        assert not {a for a, _ in flagged} & {"busy", "newcomer"}
    assert _rows(db, ROLLUP, now) == expected  # nothing rolled up: all from the tail
    with pg.connect(maintainer_dsn) as conn:  # about half rolled up
        conn.execute("SELECT vigil_monitor.maintain_rollup('access_log', %s)", (total // 2,))
    assert _rows(db, ROLLUP, now) == expected
    with pg.connect(maintainer_dsn) as conn:
        worker.run_once(conn)
    assert one(db, "SELECT count(*) FROM vigil_monitor.access_rollup")[0] > 0
    assert _rows(db, ROLLUP, now) == expected
    # The baseline's whole minutes come from the rollup alone: without their raw rows the
    # answer is the same (a raw-scan rule would lose them).
    with pg.connect(db) as conn:
        gone = conn.execute(
            "DELETE FROM vigil_monitor.access_log WHERE ts >= vigil_monitor.access_bucket("
            "%(now)s - interval '24 h') + interval '60 s' AND ts < vigil_monitor.access_bucket("
            "%(now)s - interval '300 s')", {"now": now}).rowcount
    assert gone > 0
    assert _rows(db, ROLLUP, now) == expected
