"""exporter/config.py: the meaning of exporter.yml, every problem at its YAML path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exporter.collectors.spec import custom_spec
from exporter.config import BUILTIN_COLLECTORS, build_config, load_config, parse_listen_address
from vigil.core.errors import ConfigError

from ..conftest import REPO

TARGET = {"name": "db1", "dsn": "postgresql://vigil_exporter@127.0.0.1:5432/app"}


def metric(**over: Any) -> dict[str, Any]:
    return {"name": "app_rows", "type": "gauge", "help": "rows in the app", **over}


def custom(*metrics: dict[str, Any], sql: str = "SELECT 1 AS value", **over: Any
           ) -> dict[str, Any]:
    return {"name": "app", "queries": [{"sql": sql, "metrics": list(metrics)}], **over}


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        build_config({"targets": [TARGET], **data})
    return dict(exc.value.details)


def test_the_sample_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIL_EXPORTER_DSN", raising=False)
    cfg = load_config(REPO / "config" / "exporter.yml")
    assert [t.name for t in cfg.targets] == ["demo"]
    assert set(cfg.collectors) <= set(BUILTIN_COLLECTORS)
    assert cfg.settings("indexes").interval == 300.0
    assert cfg.settings("not-configured").enabled is True


def test_a_minimal_config_gets_impatient_pool_defaults() -> None:
    cfg = build_config({"targets": [TARGET]})
    assert cfg.targets[0].pool.timeout <= 2.0
    assert cfg.web.listen_address == "127.0.0.1:18090"


def test_duplicate_targets_are_named_at_the_second_one() -> None:
    got = problems({"targets": [TARGET, TARGET]})
    assert got["targets[1].name"] == "duplicate target 'db1'"


def test_a_target_needs_a_dsn_and_a_usable_one(write_yaml: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(write_yaml({"targets": [{"name": "db1"}]}))
    assert dict(exc.value.details)["targets[0].dsn"] == "field required"
    got = problems({"targets": [{"name": "db1", "dsn": "host='unterminated pw=s3cr3t"}]})
    assert got["targets[0].dsn"].startswith("malformed connection string")
    assert "s3cr3t" not in got["targets[0].dsn"]


def test_an_impatient_pool_is_enforced() -> None:
    got = problems({"targets": [{**TARGET, "pool": {"timeout": "30s"}}]})
    assert "pool.timeout must be > 0 and <= 2s" in got["targets[0].pool"]
    got = problems({"targets": [{**TARGET, "pool": {"max_waiting": 0}}]})
    assert "unbounded" in got["targets[0].pool"]


def test_unknown_built_in_collectors_and_bad_overrides_are_refused() -> None:
    got = problems({"collectors": {"rsl": {}, "rls": {"interval": "0s", "max_series": -1}}})
    assert got["collectors.rsl"].startswith("unknown built-in collector; known: rls,")
    assert got["collectors.rls.interval"] == "must be > 0 (leave it out for the default)"
    assert "collectors.rls.max_series" in got


def test_a_target_may_only_name_known_collectors() -> None:
    got = problems({"targets": [{**TARGET, "collectors": ["rls", "mystery"]}]})
    assert got["targets[0].collectors"] == "unknown collector 'mystery'"
    cfg = build_config({"targets": [{**TARGET, "collectors": ["rls", "app"]}],
                        "custom_collectors": [custom(metric())]})
    assert cfg.targets[0].collectors == ("rls", "app")


def test_custom_collector_names_must_be_new() -> None:
    got = problems({"custom_collectors": [custom(metric(), name="rls"),
                                          custom(metric(name="b"), name="ping")]})
    assert got["custom_collectors[0].name"] == "collector 'rls' already exists"
    assert got["custom_collectors[1].name"] == "collector 'ping' already exists"


@pytest.mark.parametrize(("over", "path", "message"), [
    ({"type": "counter"}, "name", "counter 'app_rows' must end in _total"),
    ({"name": "app_rows_total"}, "name", "only counters end in _total"),
    ({"name": "vigil_app"}, "name", "reserved vigil_ prefix"),
    ({"name": "9lives"}, "name", "invalid metric name '9lives'"),
    ({"help": "  "}, "help", "say what the metric means"),
    ({"labels": ["le"]}, "labels", "label 'le' is reserved"),
    ({"labels": ["__x"]}, "labels", "invalid label name '__x'"),
    ({"labels": ["a", "a"]}, "labels", "duplicate label"),
    ({"labels": ["tenant_id"]}, "labels", "needs privacy.tenant_labels: true"),
    ({"labels": ["user"]}, "labels", "needs privacy.actor_labels: true"),
    ({"type": "histogram"}, "buckets", "a histogram needs buckets"),
    ({"type": "histogram", "buckets": [0.5, 0.1]}, "buckets", "strictly increasing"),
    ({"type": "histogram", "buckets": [0.1, 0.1]}, "buckets", "strictly increasing"),
    ({"buckets": [1.0]}, "buckets", "only histograms have buckets"),
    ({"watermark": "id"}, "watermark", "only histograms"),
    ({"max_series": 0}, "max_series", "must be >= 1"),
])
def test_a_bad_metric_is_named_at_its_path(over: dict[str, Any], path: str,
                                           message: str) -> None:
    got = problems({"custom_collectors": [custom(metric(**over))]})
    assert message in got[f"custom_collectors[0].queries[0].metrics[0].{path}"]


def test_privacy_switches_allow_tenant_and_actor_labels() -> None:
    cfg = build_config({"targets": [TARGET], "privacy": {"tenant_labels": True,
                                                         "actor_labels": True},
                        "custom_collectors": [custom(metric(labels=["tenant", "actor"]))]})
    assert cfg.custom_collectors[0].queries[0].metrics[0].labels == ("tenant", "actor")


def test_a_metric_name_may_appear_once_across_custom_collectors() -> None:
    got = problems({"custom_collectors": [custom(metric()),
                                          custom(metric(), name="other")]})
    assert "already exists" in got["custom_collectors[1].queries[0].metrics[0].name"]


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT 1; SELECT 2", "exactly one statement"),
    ("DELETE FROM t", "must be a query"),
    ("", "must be a query"),
])
def test_custom_sql_must_be_one_read_only_query(sql: str, message: str) -> None:
    got = problems({"custom_collectors": [custom(metric(), sql=sql)]})
    assert message in got["custom_collectors[0].queries[0].sql"]


def test_a_custom_query_without_a_watermark_is_capped_by_the_server() -> None:
    cfg = build_config({"targets": [TARGET], "limits": {"max_rows": 50},
                        "custom_collectors": [custom(metric(), sql="SELECT 1 AS value;")]})
    spec = custom_spec(cfg.custom_collectors[0], cfg)
    query = spec.queries[0]
    assert query.max_rows == 50 and query.sql.endswith("LIMIT 51")
    assert ";" not in query.sql and query.start_sql is None


def test_a_watermark_histogram_resumes_from_the_max_id() -> None:
    hist = metric(type="histogram", buckets=[0.1, 1.0], watermark="id")
    cfg = build_config({"targets": [TARGET], "custom_collectors": [custom(hist)]})
    query = custom_spec(cfg.custom_collectors[0], cfg).queries[0]
    assert query.watermark == "id" and query.max_rows is None
    assert query.start_sql is not None and 'max(q."id")' in query.start_sql


def test_zero_limits_and_bad_web_settings_are_refused() -> None:
    got = problems({"limits": {"max_rows": 0},
                    "web": {"telemetry_path": "/-/healthy", "listen_address": "localhost"}})
    assert got["limits.max_rows"] == "must be >= 1"
    assert "other than /, /-/healthy and /-/ready" in got["web.telemetry_path"]
    assert got["web.listen_address"] == "expected host:port or :port, got 'localhost'"


def test_a_negative_duration_fails_at_the_shape_check() -> None:
    got = problems({"scheduler": {"start_jitter": -1}})
    assert got["scheduler.start_jitter"] == "duration must not be negative, got -1"


@pytest.mark.parametrize(("address", "host", "port"), [
    ("127.0.0.1:9187", "127.0.0.1", 9187), (":9187", "0.0.0.0", 9187),  # noqa: S104 - ":port" means all
    ("[::1]:9187", "::1", 9187),
])
def test_listen_addresses(address: str, host: str, port: int) -> None:
    assert parse_listen_address(address) == (host, port)


@pytest.mark.parametrize("address", ["9187", "host:", "host:99999", "host:http"])
def test_a_bad_listen_address_is_a_config_error(address: str) -> None:
    with pytest.raises(ConfigError, match="expected host:port"):
        parse_listen_address(address)
