"""Built-in collectors on the demo app, as the least-privileged vigil_exporter role: every
metric family has a value, each injected fault pushes its metric past the runbook threshold,
and heal brings it back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from exporter_helpers import Samples, exposition, run, settled, value, wait_for

from exporter.config import build_config
from exporter.scheduler import Exporter
from vigil import contain, demo
from vigil.contain import Target
from vigil.core import pg
from vigil.demo import load


@pytest.fixture(scope="module")
def demo_db(admin_dsn: str) -> Iterator[demo.DemoInfo]:
    name = f"vigil_exp_demo_{uuid.uuid4().hex[:8]}"
    info = demo.setup(admin_dsn, name)
    demo.run_load(info, duration=2, rate=60)
    yield info
    pg.drop_database(admin_dsn, name)


@pytest.fixture
async def exp(demo_db: demo.DemoInfo, tmp_path: Path) -> AsyncIterator[Exporter]:
    cfg = build_config({"targets": [{"name": "demo", "dsn": demo_db.exporter_dsn}],
                        "state_dir": str(tmp_path), "watermark_start": "zero",
                        "scheduler": {"start_jitter": 0}})
    e = Exporter(cfg)
    await e.start(schedule=False)
    yield e
    await e.stop()


async def collect(e: Exporter, *names: str) -> Samples:
    for name in names:
        assert await run(e, name, "demo"), name
    return exposition(e)


def over(s: Samples, before: Samples, metric: str, bound: str) -> float:
    """New observations above ``bound`` since ``before``."""
    def above(x: Samples) -> float:
        return (value(x, f"{metric}_count") or 0) - (value(x, f"{metric}_bucket", le=bound) or 0)
    return above(s) - above(before)


def top(s: Samples, metric: str) -> float:
    return max(v for (n, _), v in s.items() if n == metric)


ALL = ("rls", "encryption", "audit", "phi", "security", "indexes")


async def test_every_metric_family_has_a_value_with_the_demo_workload(
        exp: Exporter, demo_db: demo.DemoInfo) -> None:
    await settled(demo_db.admin_dsn)
    s = await collect(exp, *ALL)
    names = {n for n, _ in s}
    for family in ("vigil_rls_overhead_seconds", "vigil_access_unusual_patterns",
                   "vigil_encryption_key_age_seconds", "vigil_audit_coverage_ratio",
                   "vigil_audit_gaps", "vigil_audit_integrity_issues", "vigil_unused_indexes",
                   "vigil_unused_index_info", "vigil_encryption_reencryption_status",
                   "vigil_access_requests_total", "vigil_access_failed_attempts_total",
                   "vigil_encryption_failed_operations_total",
                   "vigil_encryption_duration_seconds_count",
                   "vigil_audit_write_duration_seconds_count",
                   "vigil_phi_query_duration_seconds_count", "vigil_up"):
        assert family in names, family
    assert value(s, "vigil_up", target="demo") == 1
    assert value(s, "vigil_audit_coverage_ratio") == 1.0
    assert value(s, "vigil_audit_integrity_issues") == 0
    assert (value(s, "vigil_access_requests_total") or 0) > 0
    for hist in ("vigil_audit_write_duration_seconds", "vigil_phi_query_duration_seconds"):
        assert (value(s, f"{hist}_count", schema="public", table="Deal") or 0) > 0, hist
    assert sum(v for (n, lv), v in s.items()
               if n == "vigil_encryption_reencryption_status") == 1  # exactly one state
    assert top(s, "vigil_rls_overhead_seconds") < 0.05
    assert top(s, "vigil_encryption_key_age_seconds") >= 0
    for c in ALL:
        assert value(s, "vigil_collector_success", collector=c) == 1, c


async def test_histogram_tables_are_labelled_like_the_rls_gauge(
        exp: Exporter, demo_db: demo.DemoInfo) -> None:
    """schema="public", table="Deal": the catalog names, never SQL quoting."""
    await settled(demo_db.admin_dsn)
    s = await collect(exp, "rls", "audit", "phi")

    def tables(metric: str) -> set[tuple[str, str]]:
        return {(dict(lv)["schema"], dict(lv)["table"]) for (n, lv), _ in s.items()
                if n == metric}

    rls = tables("vigil_rls_overhead_seconds")
    for hist in ("vigil_audit_write_duration_seconds_count",
                 "vigil_phi_query_duration_seconds_count"):
        assert tables(hist) and tables(hist) <= rls, (hist, tables(hist), rls)
        assert all('"' not in f"{sch}{tab}" for sch, tab in tables(hist))
    assert ("public", "Deal") in tables("vigil_phi_query_duration_seconds_count")


async def test_slow_rls_crosses_50ms_and_heal_restores(exp: Exporter,
                                                       demo_db: demo.DemoInfo) -> None:
    demo.inject(demo_db.admin_dsn, "slow-rls")
    try:
        assert top(await collect(exp, "rls"), "vigil_rls_overhead_seconds") > 0.05
    finally:
        demo.heal(demo_db.admin_dsn, "slow-rls")
    assert top(await collect(exp, "rls"), "vigil_rls_overhead_seconds") < 0.05


async def test_slow_audit_crosses_10ms_and_heal_restores(exp: Exporter,
                                                         demo_db: demo.DemoInfo) -> None:
    await settled(demo_db.admin_dsn)
    base = await collect(exp, "audit")
    demo.inject(demo_db.admin_dsn, "slow-audit")
    try:
        demo.run_load(demo_db, duration=1.0, rate=40)
        await settled(demo_db.admin_dsn)
        slow = await collect(exp, "audit")
        assert over(slow, base, "vigil_audit_write_duration_seconds", "0.01") > 0
    finally:
        demo.heal(demo_db.admin_dsn, "slow-audit")
    demo.run_load(demo_db, duration=1.0, rate=40)
    await settled(demo_db.admin_dsn)
    healed = await collect(exp, "audit")
    assert over(healed, slow, "vigil_audit_write_duration_seconds", "0.01") == 0
    assert (value(healed, "vigil_audit_write_duration_seconds_count") or 0) > \
        (value(slow, "vigil_audit_write_duration_seconds_count") or 0)


async def test_slow_encryption_crosses_100ms_and_heal_restores(exp: Exporter,
                                                               demo_db: demo.DemoInfo) -> None:
    await settled(demo_db.admin_dsn)
    base = await collect(exp, "encryption", "phi")
    demo.inject(demo_db.admin_dsn, "slow-encryption")
    try:
        demo.run_load(demo_db, duration=1.5, rate=20)
        await settled(demo_db.admin_dsn)
        slow = await collect(exp, "encryption", "phi")
        assert over(slow, base, "vigil_encryption_duration_seconds", "0.1") > 0
        assert over(slow, base, "vigil_phi_query_duration_seconds", "0.1") > 0
    finally:
        demo.heal(demo_db.admin_dsn, "slow-encryption")
    await settled(demo_db.admin_dsn)
    mid = await collect(exp, "encryption", "phi")
    demo.run_load(demo_db, duration=1.0, rate=40)
    await settled(demo_db.admin_dsn)
    healed = await collect(exp, "encryption", "phi")
    assert over(healed, mid, "vigil_encryption_duration_seconds", "0.1") == 0
    assert over(healed, mid, "vigil_phi_query_duration_seconds", "0.1") == 0


def _unusual_window(dsn: str, seconds: int) -> None:
    with pg.connect(dsn) as conn:
        conn.execute("UPDATE vigil_monitor.settings SET value = %s "
                     "WHERE key = 'unusual_window_seconds'", (str(seconds),))


async def test_failed_access_raises_attempts_and_unusual_patterns_and_heal_clears(
        exp: Exporter, demo_db: demo.DemoInfo) -> None:
    # The unusual-pattern rule looks back unusual_window_seconds (300 by default); a short
    # window lets "healed" mean what it means in production, the burst aging out of it.
    _unusual_window(demo_db.admin_dsn, 6)
    try:
        base = await collect(exp, "security")
        demo.inject(demo_db.admin_dsn, "failed-access")
        s = await collect(exp, "security")
        assert (value(s, "vigil_access_failed_attempts_total") or 0) > \
            (value(base, "vigil_access_failed_attempts_total") or 0)
        assert (value(s, "vigil_access_unusual_patterns") or 0) > 0
        demo.heal(demo_db.admin_dsn, "failed-access")

        async def cleared() -> bool:
            return value(await collect(exp, "security"), "vigil_access_unusual_patterns") == 0

        await wait_for(cleared, within=20)
        after = await collect(exp, "security")  # a counter: history is never erased
        assert (value(after, "vigil_access_failed_attempts_total") or 0) >= \
            (value(s, "vigil_access_failed_attempts_total") or 0)
    finally:
        _unusual_window(demo_db.admin_dsn, 300)


async def test_audit_tamper_names_the_broken_row_and_heal_restores(
        exp: Exporter, demo_db: demo.DemoInfo) -> None:
    done = demo.inject(demo_db.admin_dsn, "audit-tamper")
    try:
        s = await collect(exp, "security")
        assert (value(s, "vigil_audit_integrity_issues") or 0) > 0
        assert value(s, "vigil_audit_first_broken_row_id") == done["audit_id"]
    finally:
        demo.heal(demo_db.admin_dsn, "audit-tamper")
    s = await collect(exp, "security")
    assert value(s, "vigil_audit_integrity_issues") == 0
    assert value(s, "vigil_audit_first_broken_row_id") == 0


async def test_a_contained_actors_refused_writes_are_counted_and_kept_after_release(
        exp: Exporter, demo_db: demo.DemoInfo) -> None:
    """As vigil_exporter: each refused INSERT adds one, though its access_log row is rolled
    back; release keeps the count (a counter); no label names the actor."""
    target = Target("actor", "user-tenant-1-4")
    s = await collect(exp, "security")
    assert value(s, "vigil_contained_write_refusals_total") == 0
    contain.execute(demo_db.admin_dsn, contain.plan(demo_db.admin_dsn, target, 0, "test"))
    try:
        for _ in range(2):
            with psycopg.connect(demo_db.app_dsn, autocommit=True) as conn, \
                    pytest.raises(psycopg.errors.InsufficientPrivilege):
                load.write(conn, "tenant-1", target.value)
        s = await collect(exp, "security")
        assert value(s, "vigil_contained_write_refusals_total") == 2
    finally:
        contain.execute(demo_db.admin_dsn, contain.plan_release(demo_db.admin_dsn, target, "t"))
    s = await collect(exp, "security")
    assert value(s, "vigil_contained_write_refusals_total") == 2
    labels = [dict(lv) for (n, lv), _ in s.items() if n == "vigil_contained_write_refusals_total"]
    assert labels == [{"target": "demo"}]   # the exporter's own target label, nothing else
