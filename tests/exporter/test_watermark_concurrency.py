"""Exactly once under concurrent writers: a row whose id was taken before, but committed after,
a higher id the exporter already read is still observed, exactly once, across restarts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path

import psycopg
import pytest
from exporter_helpers import Samples, exposition, run, value, wait_for

from exporter.collectors.builtin import LATENCY_BUCKETS
from exporter.config import ExporterConfig, build_config
from exporter.scheduler import Exporter
from vigil import demo
from vigil.core import pg

# One observation per row, distinct durations so a double count or a loss changes the sum.
SLOW_A, FAST_B = 0.2, 0.03


@pytest.fixture(scope="module")
def demo_db(admin_dsn: str) -> Iterator[demo.DemoInfo]:
    name = f"vigil_exp_wm_{uuid.uuid4().hex[:8]}"
    info = demo.setup(admin_dsn, name)
    yield info
    pg.drop_database(admin_dsn, name)


def config(info: demo.DemoInfo, state_dir: Path) -> ExporterConfig:
    return build_config({"targets": [{"name": "demo", "dsn": info.exporter_dsn}],
                         "state_dir": str(state_dir), "scheduler": {"start_jitter": 0},
                         "collectors": {n: {"enabled": n in ("audit", "phi", "encryption")}
                                        for n in ("rls", "encryption", "audit", "phi",
                                                  "security", "indexes")}})


async def collect(e: Exporter) -> Samples:
    for name in ("audit", "phi", "encryption"):
        assert await run(e, name, "demo"), name
    return exposition(e)


def write(conn: psycopg.Connection[tuple[object, ...]], tenant: str, seconds: float) -> None:
    """What the app records for one PHI write, through its own SECURITY DEFINER functions."""
    conn.execute("SELECT set_config('app.current_tenant_id', %s, true)", (tenant,))
    conn.execute("SELECT vigil_monitor.record_phi_access('public.\"Deal\"', 'write', %s, 1)",
                 (seconds * 1000,))
    conn.execute("SELECT vigil_monitor.record_encryption_op('encrypt', 'k1', %s, true)",
                 (seconds * 1000,))


def audit_write(conn: psycopg.Connection[tuple[object, ...]], seconds: float) -> None:
    # The audit trigger serializes its writers (advisory lock), so two open audit writers
    # would wait for each other; an admin insert shows the same race on the metrics table.
    conn.execute("INSERT INTO vigil_monitor.audit_write_metrics (duration, table_name, "
                 "operation) VALUES (make_interval(secs => %s), 'public.\"Deal\"', 'INSERT')",
                 (seconds,))


# A saved histogram of the current bucket layout: 3 observations in the third bucket.
SAVED_COUNTS = [0, 0, 3] + [0] * (len(LATENCY_BUCKETS) - 2)
HISTOGRAMS = ("vigil_audit_write_duration_seconds", "vigil_phi_query_duration_seconds",
              "vigil_encryption_duration_seconds")


def counts(s: Samples) -> dict[str, float]:
    return {m: value(s, f"{m}_count") or 0.0 for m in HISTOGRAMS}


def sums(s: Samples) -> dict[str, float]:
    return {m: round(value(s, f"{m}_sum") or 0.0, 6) for m in HISTOGRAMS}


async def test_row_committed_after_a_higher_id_is_observed_exactly_once(
        demo_db: demo.DemoInfo, tmp_path: Path) -> None:
    exp = Exporter(config(demo_db, tmp_path))
    await exp.start(schedule=False)
    try:
        before = await collect(exp)  # first start: "now", history is not replayed
        base = counts(before)
        with (psycopg.connect(demo_db.app_dsn) as app_a, psycopg.connect(demo_db.app_dsn) as app_b,
              psycopg.connect(demo_db.admin_dsn) as adm_a,
              psycopg.connect(demo_db.admin_dsn) as adm_b):
            # A takes the lower ids and stays open ...
            write(app_a, "tenant-1", SLOW_A)
            audit_write(adm_a, SLOW_A)
            # ... B takes higher ids and commits first.
            write(app_b, "tenant-2", FAST_B)
            audit_write(adm_b, FAST_B)
            app_b.commit()
            adm_b.commit()
            during = await collect(exp)
            app_a.commit()
            adm_a.commit()

        async def settled() -> bool:
            # Another session of the cluster may hold the horizon back for a moment.
            now = counts(await collect(exp))
            return all(now[m] - base[m] >= 2 for m in HISTOGRAMS)

        await wait_for(settled, within=10)
        after = await collect(exp)
        again = await collect(exp)
    finally:
        await exp.stop()

    # While A is open B's rows wait behind the horizon: delayed, never lost or reordered.
    assert counts(during) == base
    assert {m: counts(after)[m] - base[m] for m in HISTOGRAMS} == dict.fromkeys(HISTOGRAMS, 2)
    assert {m: round(sums(after)[m] - sums(before)[m], 6) for m in HISTOGRAMS} == \
        dict.fromkeys(HISTOGRAMS, SLOW_A + FAST_B)
    assert counts(again) == counts(after)
    for m, bound in (("vigil_audit_write_duration_seconds", "0.25"),
                     ("vigil_phi_query_duration_seconds", "0.25"),
                     ("vigil_encryption_duration_seconds", "0.25")):
        assert (value(after, f"{m}_bucket", le=bound) or 0) - \
            (value(before, f"{m}_bucket", le=bound) or 0) == 2
        assert (value(after, f"{m}_bucket", le="0.05") or 0) - \
            (value(before, f"{m}_bucket", le="0.05") or 0) == 1


async def test_version_1_state_resumes_after_its_id_then_saves_the_settled_pair(
        demo_db: demo.DemoInfo, tmp_path: Path) -> None:
    phi = "vigil_phi_query_duration_seconds"
    with psycopg.connect(demo_db.admin_dsn, autocommit=True) as adm:
        row = adm.execute("SELECT coalesce(max(id), 0) FROM vigil_monitor.phi_access_patterns"
                          ).fetchone()
    assert row is not None
    seen = int(row[0])
    old = {"version": 1, "target": "demo", "watermarks": {phi: seen}, "histograms": {phi: [
        {"labels": ["public", "Deal"], "counts": SAVED_COUNTS,
         "sum": 0.06, "count": 3}]}}
    (tmp_path / "demo.json").write_text(json.dumps(old), encoding="utf-8")
    with psycopg.connect(demo_db.app_dsn) as app:  # written after that exporter stopped
        write(app, "tenant-1", FAST_B)
        write(app, "tenant-2", FAST_B)
        app.commit()

    async def phi_count(e: Exporter) -> float | None:
        assert await run(e, "phi", "demo")
        return value(exposition(e), f"{phi}_count")

    exp = Exporter(config(demo_db, tmp_path))
    await exp.start(schedule=False)
    try:
        await wait_for(lambda: _eq(phi_count(exp), 5), within=10)
    finally:
        await exp.stop()
    saved = json.loads((tmp_path / "demo.json").read_text(encoding="utf-8"))
    assert saved["version"] == 2
    assert saved["watermarks"][phi]["floor"] == seen and saved["watermarks"][phi]["txid"] > 0

    with psycopg.connect(demo_db.app_dsn) as app:
        write(app, "tenant-1", SLOW_A)
        app.commit()
    exp2 = Exporter(config(demo_db, tmp_path))  # a restart from the version-2 file
    await exp2.start(schedule=False)
    try:
        assert value(exposition(exp2), f"{phi}_count") == 5
        await wait_for(lambda: _eq(phi_count(exp2), 6), within=10)
        assert await phi_count(exp2) == 6
    finally:
        await exp2.stop()


async def test_saved_histogram_with_old_labels_restarts_at_zero_but_keeps_its_watermark(
        demo_db: demo.DemoInfo, tmp_path: Path) -> None:
    """An upgrade changed the histogram's labels (``table`` became ``schema`` + ``table``): the
    old series must not come back with the wrong label names, and rows already counted under
    them must not be counted again."""
    phi = "vigil_phi_query_duration_seconds"
    with psycopg.connect(demo_db.admin_dsn, autocommit=True) as adm:
        row = adm.execute("SELECT coalesce(max(id), 0) FROM vigil_monitor.phi_access_patterns"
                          ).fetchone()
    assert row is not None
    old = {"version": 1, "target": "demo", "watermarks": {phi: int(row[0])}, "histograms": {
        phi: [{"labels": ['public."Deal"'], "counts": SAVED_COUNTS,
               "sum": 0.06, "count": 3}]}}
    (tmp_path / "demo.json").write_text(json.dumps(old), encoding="utf-8")
    with psycopg.connect(demo_db.app_dsn) as app:
        write(app, "tenant-1", FAST_B)
        app.commit()

    exp = Exporter(config(demo_db, tmp_path))
    await exp.start(schedule=False)
    try:
        assert value(exposition(exp), f"{phi}_count") is None  # old-shaped series dropped

        async def phi_count() -> float | None:
            assert await run(exp, "phi", "demo")
            return value(exposition(exp), f"{phi}_count")

        await wait_for(lambda: _eq(phi_count(), 1), within=10)  # only the new row
        assert all(v != 'public."Deal"' for _, lv in exposition(exp) for _, v in lv)
    finally:
        await exp.stop()


async def _eq(got: Awaitable[float | None], want: float) -> bool:
    return await got == want
