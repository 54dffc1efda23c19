"""The collector machinery with custom collectors and plain SQL (no monitoring schema)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from exporter_helpers import exposition, missing_objects, run, value, wait_for

from exporter.config import ExporterConfig
from exporter.scheduler import Exporter

Start = Callable[..., Awaitable[Exporter]]
MakeConfig = Callable[..., ExporterConfig]


def gauge(name: str, sql: str, labels: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    metric = {"name": name, "type": "gauge", "help": "test gauge", "labels": labels or []}
    return {"name": kw.pop("collector", name), "interval": kw.pop("interval", "1s"),
            "timeout": kw.pop("timeout", "2s"),
            "queries": [{"sql": sql, "metrics": [{**metric, **kw}]}]}


async def test_custom_gauge_counter_and_histogram_render_with_target_label(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    custom = [
        gauge("app_series", "SELECT 'n' || i AS name, i * 1.5 AS value "
                            "FROM generate_series(1, 3) i", labels=["name"]),
        {"name": "app_counts", "queries": [{
            "sql": "SELECT 42 AS total, 0.004 AS d UNION ALL SELECT 42, 0.2",
            "metrics": [
                {"name": "app_things_total", "type": "counter", "help": "t", "value": "total"},
                {"name": "app_duration_seconds", "type": "histogram", "help": "h",
                 "value": "d", "buckets": [0.005, 0.1, 1]}]}]},
    ]
    exp = await started(make_config(fresh_db, custom))
    assert await run(exp, "app_series") and await run(exp, "app_counts")
    s = exposition(exp)
    assert value(s, "app_series", target="db1", name="n2") == 3.0
    assert value(s, "app_things_total", target="db1") == 42
    assert value(s, "app_duration_seconds_bucket", target="db1", le="0.005") == 1
    assert value(s, "app_duration_seconds_bucket", target="db1", le="0.1") == 1
    assert value(s, "app_duration_seconds_bucket", target="db1", le="+Inf") == 2
    assert value(s, "app_duration_seconds_count", target="db1") == 2
    assert value(s, "vigil_collector_success", target="db1", collector="app_series") == 1
    assert value(s, "vigil_up", target="db1") == 1
    assert value(s, "vigil_pool_max", target="db1") == 4


async def test_queries_run_read_only_with_timeouts_and_application_name(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    sql = ("SELECT current_setting('transaction_read_only') AS ro, "
           "current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt, "
           "current_setting('application_name') AS app, 1 AS value")
    exp = await started(make_config(fresh_db, [
        gauge("app_settings", sql, labels=["ro", "st", "lt", "app"], timeout="1500ms")]))
    assert await run(exp, "app_settings")
    s = exposition(exp)
    assert value(s, "app_settings", ro="on", st="1500ms", lt="1s", app="vigil-exporter") == 1


async def test_a_successful_run_replaces_the_label_set_and_a_failed_run_keeps_it(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE things (name text, n int)")
        conn.execute("INSERT INTO things VALUES ('a', 1), ('b', 2)")
        conn.execute("GRANT SELECT ON things TO PUBLIC")
    exp = await started(make_config(fresh_db, [
        gauge("app_things", "SELECT name, n AS value FROM things", labels=["name"])]))
    assert await run(exp, "app_things")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("DELETE FROM things WHERE name = 'a'")
    assert await run(exp, "app_things")
    s = exposition(exp)
    assert value(s, "app_things", name="a") is None
    assert value(s, "app_things", name="b") == 2
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("DROP TABLE things")
    assert not await run(exp, "app_things")
    s = exposition(exp)
    assert value(s, "app_things", name="b") == 2  # last good value kept
    assert value(s, "vigil_collector_success", collector="app_things") == 0
    assert missing_objects(s, "app_things") == 1


async def test_statement_timeout_is_enforced_by_the_server(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    exp = await started(make_config(fresh_db, [
        gauge("app_slow", "SELECT pg_sleep(5), 1 AS value", timeout="300ms")]))
    t0 = time.monotonic()
    assert not await run(exp, "app_slow")
    assert time.monotonic() - t0 < 2.0
    s = exposition(exp)
    assert value(s, "vigil_collector_errors_total", collector="app_slow", reason="timeout") == 1
    assert value(s, "vigil_up") == 1  # the server answered: it is up, the query was slow
    # the pool got its connection back and the next run works
    assert await run(exp, "ping")


async def test_null_nan_and_text_values_are_skipped_and_counted(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    sql = ("SELECT * FROM (VALUES ('ok', 1::float8::text), ('null', NULL), ('nan', 'NaN'), "
           "('text', 'hello')) v(k, raw)")
    custom = [{"name": "app_vals", "interval": "1s", "queries": [
        {"sql": "SELECT k, CASE WHEN k IN ('ok', 'nan') THEN raw::float8 END AS value, "
                "raw AS t FROM (" + sql + ") q",
         "metrics": [{"name": "app_vals", "type": "gauge", "help": "v", "labels": ["k"]},
                     {"name": "app_text", "type": "gauge", "help": "v", "value": "t"}]}]}]
    exp = await started(make_config(fresh_db, custom))
    assert await run(exp, "app_vals")
    s = exposition(exp)
    assert value(s, "app_vals", k="ok") == 1.0
    assert value(s, "app_vals", k="null") is None
    assert value(s, "vigil_values_skipped_total", metric="app_vals", reason="null") == 2
    assert value(s, "vigil_values_skipped_total", metric="app_vals", reason="nan") == 1
    assert value(s, "vigil_values_skipped_total", metric="app_text",
                 reason="not_a_number") == 3  # the NULL row counts as null
    assert value(s, "vigil_collector_success", collector="app_vals") == 1


async def test_series_over_the_cap_are_dropped_and_counted(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    exp = await started(make_config(fresh_db, [
        gauge("app_many", "SELECT i::text AS i, i AS value FROM generate_series(1, 50) i",
              labels=["i"], max_series=10)]))
    assert await run(exp, "app_many")
    s = exposition(exp)
    assert sum(1 for (n, _) in s if n == "app_many") == 10
    assert value(s, "vigil_series_dropped_total", metric="app_many") == 40


async def test_missing_schema_reports_missing_object_once_and_others_keep_working(
        fresh_db: str, make_config: MakeConfig, started: Start,
        caplog: pytest.LogCaptureFixture) -> None:
    cfg = make_config(fresh_db, [gauge("app_one", "SELECT 1 AS value")],
                      builtins=("rls", "audit", "security", "indexes"))
    exp = await started(cfg)
    with caplog.at_level(logging.WARNING, logger="exporter"):
        for _ in range(3):
            assert not await run(exp, "rls")
            assert not await run(exp, "audit")
        assert await run(exp, "app_one")
    s = exposition(exp)
    assert missing_objects(s, "rls") == 3
    assert value(s, "vigil_collector_success", collector="app_one") == 1
    assert value(s, "app_one") == 1
    fixes = [r for r in caplog.records if "vigil db install" in r.getMessage()]
    assert len(fixes) == 2  # once per collector, not once per run


def _sleepers(make_config: MakeConfig, dsn: str, prefix: str, n: int, sleep: float, *,
              min_size: int, timeout: str) -> ExporterConfig:
    """``n`` custom collectors ``prefix0..`` that each hold a connection ``sleep`` seconds, on
    one target whose pool has 2 connections and room for 1 waiter."""
    custom = [gauge(f"{prefix}{i}", f"SELECT pg_sleep({sleep}), 1 AS value", timeout="5s")
              for i in range(n)]
    return make_config(dsn, custom, targets=[
        {"name": "db1", "dsn": dsn, "pool": {"min_size": min_size, "max_size": 2,
                                             "timeout": timeout, "max_waiting": 1}}])


async def test_pool_exhausted_fails_fast_without_marking_the_target_down(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    exp = await started(_sleepers(make_config, fresh_db, "app_slow", 3, 1.5,
                                  min_size=1, timeout="300ms"))
    assert await run(exp, "ping")
    results = await asyncio.gather(*(run(exp, f"app_slow{i}") for i in range(3)))
    assert sorted(results) == [False, True, True]
    s = exposition(exp)
    errors = sum(value(s, "vigil_collector_errors_total", collector=f"app_slow{i}",
                       reason="connection") or 0 for i in range(3))
    assert errors == 1
    assert value(s, "vigil_up") == 1
    assert (value(s, "vigil_pool_requests_errors_total") or 0) >= 1


async def test_a_full_queue_while_the_pool_still_grows_is_not_a_target_down(
        fresh_db: str, make_config: MakeConfig, started: Start,
        caplog: pytest.LogCaptureFixture) -> None:
    """TooManyRequests is the pool's own queue limit, never the database's answer. Counted
    as "unreachable" while the pool was still opening connections (fewer in use than
    max_size), it marked the target down and replaced the pool, which started small again:
    a loop that kept vigil_up flapping as long as runs overlapped (13 collectors, 12 slots)."""
    exp = await started(_sleepers(make_config, fresh_db, "app_burst", 5, 0.3,
                                  min_size=0, timeout="2s"))
    with caplog.at_level(logging.INFO, logger="exporter"):
        results = await asyncio.gather(*(run(exp, f"app_burst{i}") for i in range(5)))
    assert True in results and False in results
    said = [r.getMessage() for r in caplog.records]
    assert not [m for m in said if "unreachable" in m], said
    assert any("pool exhausted" in m for m in said), said
    assert value(exposition(exp), "vigil_up") == 1
    assert await run(exp, "app_burst0")   # the same pool serves the next run


async def test_scheduler_never_overlaps_runs_of_one_collector(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    # The query takes 0.6 s, the interval is 0.2 s: runs must not pile up.
    custom = [gauge("app_overlap", "SELECT count(*) AS value FROM pg_stat_activity "
                    "WHERE application_name = 'vigil-exporter' AND query LIKE '%%pg_sleep(0.6)%%'"
                    " AND pg_sleep(0.6) IS NOT NULL", interval="200ms", timeout="3s")]
    exp = await started(make_config(fresh_db, custom), schedule=True)
    await wait_for(lambda: (value(exposition(exp), "vigil_collector_success",
                                  collector="app_overlap") or 0) == 1
                   and exp.store.version > 6, within=10)
    await asyncio.sleep(1.5)
    assert value(exposition(exp), "app_overlap") == 1
