"""--check-config rejects what would fail (or silently misbehave) at run time (#15 item 11),
and the run time holds custom SQL to one read statement with a row limit (item 9)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from exporter_helpers import exposition, run, value

from exporter.collectors.spec import CollectorSpec, MetricSpec, QuerySpec
from exporter.config import ExporterConfig, build_config
from exporter.exposition import Renderer
from exporter.scheduler import Exporter
from exporter.snapshot import Store
from vigil.cli import main as vigil_main
from vigil.core.errors import ConfigError

Start = Callable[..., Awaitable[Exporter]]
MakeConfig = Callable[..., ExporterConfig]
GAUGE = [{"name": "app_x", "type": "gauge", "help": "x"}]


def _errors(**overrides: Any) -> dict[str, str]:
    data: dict[str, Any] = {"targets": [{"name": "db1", "dsn": "postgresql://u@h/db"}]}
    data.update(overrides)
    with pytest.raises(ConfigError) as info:
        build_config(data)
    return dict(info.value.details)


@pytest.mark.parametrize(("overrides", "path"), [
    ({"collectors": {"rls": {"interval": 0}}}, "collectors.rls.interval"),
    ({"collectors": {"audit": {"timeout": "0s"}}}, "collectors.audit.timeout"),
    ({"targets": [{"name": "db1", "dsn": ""}]}, "targets[0].dsn"),
    ({"targets": [{"name": "db1", "dsn": "host=h port"}]}, "targets[0].dsn"),
    ({"limits": {"watermark_batch": 0}}, "limits.watermark_batch"),
    ({"limits": {"max_rows": 0}}, "limits.max_rows"),
    ({"web": {"telemetry_path": "metrics"}}, "web.telemetry_path"),
    ({"web": {"telemetry_path": "/-/ready"}}, "web.telemetry_path"),
    ({"web": {"listen_address": "localhost"}}, "web.listen_address"),
    ({"custom_collectors": [{"name": "c", "interval": 0, "queries": [
        {"sql": "SELECT 1 AS value", "metrics": GAUGE}]}]}, "custom_collectors[0].interval"),
    ({"custom_collectors": [{"name": "c", "queries": [
        {"sql": "COMMIT; INSERT INTO t VALUES (1)", "metrics": GAUGE}]}]},
     "custom_collectors[0].queries[0].sql"),
    ({"custom_collectors": [{"name": "c", "queries": [
        {"sql": "SET statement_timeout = 0", "metrics": GAUGE}]}]},
     "custom_collectors[0].queries[0].sql"),
])
def test_check_config_rejects_what_fails_at_run_time(overrides: dict[str, Any],
                                                     path: str) -> None:
    assert path in _errors(**overrides)


def test_a_malformed_dsn_is_reported_without_its_password() -> None:
    errors = _errors(targets=[{"name": "db1", "dsn": "password=pw123 host"}])
    assert "pw123" not in str(errors)


def test_one_statement_with_quoted_semicolons_and_a_trailing_one_is_fine() -> None:
    build_config({"targets": [{"name": "db1", "dsn": "postgresql://u@h/db"}],
                  "custom_collectors": [{"name": "c", "queries": [
                      {"sql": "SELECT 1 AS value, ';' AS x; -- done", "metrics": GAUGE}]}]})


def test_duplicate_yaml_keys_are_an_error(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "dup.yml"
    cfg.write_text("targets:\n  - name: db1\n    dsn: postgresql://u@h/db\n"
                   "collectors:\n  rls:\n    interval: 30s\n    interval: 5m\n")
    assert vigil_main(["exporter", "--config", str(cfg), "--check-config"]) == 1
    err = capsys.readouterr().err
    assert "line 7" in err and "duplicate key 'interval'" in err and "line 6" in err


def test_yaml_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    from vigil.core.config import load_yaml
    f = tmp_path / "m.yml"
    f.write_text("base: &b {a: 1, b: 2}\nother:\n  <<: *b\n  b: 3\n")
    assert load_yaml(f)["other"] == {"a": 1, "b": 3}


def test_an_invalid_listen_address_in_the_file_is_not_blamed_on_the_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yml"
    cfg.write_text("targets:\n  - name: db1\n    dsn: postgresql://u@h/db\n"
                   "web:\n  listen_address: 'localhost'\n")
    assert vigil_main(["exporter", "--config", str(cfg), "--check-config"]) == 1
    err = capsys.readouterr().err
    assert "web.listen_address" in err and "--web.listen-address" not in err


async def test_a_corrupt_state_file_logs_once_and_starts_fresh(
        fresh_db: str, make_config: MakeConfig, started: Start, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    state.mkdir()
    for i, text in enumerate(['{"version": 2, "watermarks": {"x": {"txid": "a"}}}',
                              '{"version": 2, "watermar']):
        (state / "db1.json").write_text(text)
        cfg = make_config(fresh_db, builtins=("audit",), state_dir=str(state))
        with caplog.at_level(logging.ERROR, logger="exporter.state"):
            caplog.clear()
            exp = await started(cfg)
        assert [r.getMessage() for r in caplog.records] == [
            "exporter state file unreadable; starting over as on a first start "
            "(histograms restart at 0, watermarks from watermark_start)"], i
        assert (state / "db1.json.corrupt").exists()
        assert await run(exp, "ping")


@pytest.mark.parametrize(("accept", "encoding", "om", "gz"), [
    ("", "gzip", False, True),
    ("", "gzip;q=0", False, False),
    ("", "*;q=0.5", False, True),
    ("", "*, gzip;q=0", False, False),
    ("application/openmetrics-text;version=1.0.0,text/plain;q=0.5", "", True, False),
    ("application/openmetrics-text;q=0,text/plain", "", False, False),
    ("application/openmetrics-text;q=0.2,text/plain;q=0.8", "identity", False, False),
])
def test_accept_headers_honour_q(accept: str, encoding: str, om: bool, gz: bool) -> None:
    r = Renderer(Store([], ["db1"]))
    body = r.pick(accept, encoding)
    assert (body.headers["Content-Type"].startswith("application/openmetrics")) is om
    assert ("Content-Encoding" in body.headers) is gz


async def test_custom_sql_cannot_leave_the_read_only_transaction(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE victims (id int)")
    exp = await started(make_config(fresh_db))
    metric = (MetricSpec("app_x", "gauge", "x"),)
    # Built by hand: --check-config would reject these before they got here.
    for sql in ("COMMIT; INSERT INTO victims VALUES (1)", "COMMIT; SELECT pg_sleep(3.5)"):
        spec = CollectorSpec("evil", 60, 2.0, 1.0, (QuerySpec(sql, metric),))
        exp.targets["db1"].specs.append(spec)
        assert not await exp.run("db1", spec)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM victims").fetchone() == (0,)


async def test_a_custom_query_over_the_row_limit_fails_the_run(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    def custom(n: int) -> list[dict[str, Any]]:
        return [{"name": "many", "queries": [{
            "sql": f"SELECT g AS k, 1 AS value FROM generate_series(1, {n}) g;",
            "metrics": [{"name": "app_many", "type": "gauge", "help": "x",
                         "labels": ["k"]}]}]}]

    exp = await started(make_config(fresh_db, custom(10), limits={"max_rows": 10}))
    assert await run(exp, "many")
    exp = await started(make_config(fresh_db, custom(11), limits={"max_rows": 10}))
    assert not await run(exp, "many")
    s = exposition(exp)
    assert value(s, "vigil_collector_errors_total", collector="many", reason="row_limit") == 1
    assert value(s, "vigil_up", target="db1") == 1  # the target answered
