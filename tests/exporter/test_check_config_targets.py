"""`vigil exporter --check-config` refuses what the static checks cannot see: custom SQL that
does not prepare on its target, labels its query never returns; a non-PostgreSQL DSN and a
duration without a unit (#11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config import build_config, load_config
from vigil.cli import main as vigil_main
from vigil.core.errors import ConfigError


def _write(tmp_path: Path, dsn: str, queries: list[dict[str, Any]],
           interval: Any = "60s") -> Path:
    path = tmp_path / "exporter.yml"
    path.write_text(yaml.safe_dump({
        "targets": [{"name": "db1", "dsn": dsn}],
        "custom_collectors": [{"name": "app", "interval": interval, "queries": queries}]}))
    return path


def _gauge(sql: str, labels: list[str] | None = None, name: str = "app_x") -> dict[str, Any]:
    return {"sql": sql, "metrics": [{"name": name, "type": "gauge", "help": "x",
                                     "labels": labels or []}]}


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = vigil_main(["exporter", "--config", str(path), "--check-config"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_invalid_sql_and_a_label_the_query_never_returns_are_refused_with_their_path(
        fresh_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, fresh_db, [
        _gauge("SELECT 1 AS value FROM no_such_table"),
        _gauge("SELECT 'a' AS kind, 1 AS value", labels=["kind", "knid"], name="app_y"),
        _gauge("SELECT 1 AS valeu", name="app_z")])
    code, out = _check(path, capsys)
    assert code == 1
    assert "custom_collectors[0].queries[0].sql: invalid SQL (42P01 at character " in out
    assert 'relation "no_such_table" does not exist; on target db1)' in out
    assert "custom_collectors[0].queries[1].metrics[0].labels: label 'knid'" in out
    assert "'kind'" not in out.split("knid")[0].splitlines()[-1]  # the returned one is fine
    assert "custom_collectors[0].queries[2].metrics[0].value: the query returns no column " \
           "'value' (it returns valeu" in out


def test_valid_queries_prepare_without_running_and_pass(
        fresh_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, fresh_db, [
        _gauge("SELECT datname AS db, 1 AS value FROM pg_database", labels=["db"]),
        # A watermark query takes %(watermark)s and %(batch)s; pg_sleep would take 60 s if run.
        {"sql": "SELECT g AS id, 0.1 AS value FROM generate_series(1, 3) g "
                "WHERE g > %(watermark)s AND pg_sleep(60) IS NOT NULL ORDER BY g "
                "LIMIT %(batch)s",
         "metrics": [{"name": "app_y_seconds", "type": "histogram", "help": "y",
                      "buckets": [0.1], "watermark": "id"}]}])
    code, out = _check(path, capsys)
    assert code == 0, out
    assert "2 custom queries prepared" in out


def test_an_unreachable_target_is_reported_as_not_checked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "postgresql://nobody:s3cret-pw@127.0.0.1:1/db",
                  [_gauge("SELECT 1 AS value FROM no_such_table")])
    code, out = _check(path, capsys)
    assert code == 0
    assert "custom SQL not checked, the target is not reachable" in out
    assert "s3cret-pw" not in out


@pytest.mark.parametrize("dsn", ["mysql://u@127.0.0.1:3306/db", "MySQL://u:pw@h/db?ssl=1",
                                 "http://h/db"])
def test_a_dsn_of_another_database_is_refused(dsn: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config({"targets": [{"name": "db1", "dsn": dsn}]})
    why = dict(info.value.details)["targets[0].dsn"]
    assert why.startswith("not a PostgreSQL DSN") and "pw" not in why


@pytest.mark.parametrize("dsn", ["postgres://u@h/db", "postgresql://u@h/db", "host=h dbname=d"])
def test_postgres_dsns_are_accepted(dsn: str) -> None:
    assert build_config({"targets": [{"name": "db1", "dsn": dsn}]}).targets[0].dsn == dsn


def test_a_duration_without_a_unit_is_refused_with_its_yaml_path(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yml"
    path.write_text(yaml.safe_dump({
        "targets": [{"name": "db1", "dsn": "host=h", "pool": {"timeout": 1}}],
        "collectors": {"rls": {"interval": 60}},
        "custom_collectors": [{"name": "app", "interval": 60, "queries": [
            _gauge("SELECT 1 AS value")]}]}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    details = dict(info.value.details)
    assert set(details) == {"targets[0].pool.timeout", "collectors.rls.interval",
                            "custom_collectors[0].interval"}
    assert details["collectors.rls.interval"].startswith("a duration needs a unit: write 60s")


def test_a_locked_table_is_not_checked_instead_of_hanging(
        fresh_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import psycopg

    with psycopg.connect(fresh_db) as locker:
        locker.execute("CREATE TABLE app_t (v int)")
        locker.commit()
        locker.execute("LOCK TABLE app_t IN ACCESS EXCLUSIVE MODE")
        code, out = _check(_write(tmp_path, fresh_db, [_gauge("SELECT v AS value FROM app_t")]),
                           capsys)
    # lock_not_available after the lock timeout: the SQL may be fine, so not a verdict on it
    assert code == 0
    assert "custom_collectors[0].queries[0].sql: not checked on target db1: 55P03" in out
