from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from vigil.core.config import Dsn, Seconds, Secret, build, load
from vigil.core.durations import parse as parse_duration
from vigil.core.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    dsn: Dsn
    interval: Seconds = 15.0


@dataclasses.dataclass(frozen=True)
class Sample:
    targets: tuple[Target, ...]
    mode: Literal["fast", "safe"] = "safe"
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    token: Secret | None = None

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("at least one target is required")


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[Any], Path]:
    def write(data: Any) -> Path:
        path = tmp_path / "config.yml"
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
        return path

    return write


def details(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return dict(exc.value.details)


def test_valid_config_becomes_frozen_typed_objects(write_config: Callable[[Any], Path]) -> None:
    path = write_config({"targets": [{"name": "a", "dsn": "dbname=x", "interval": "1m30s"}]})
    cfg = load(Sample, path)
    assert cfg.targets[0].interval == 90.0
    assert isinstance(cfg.targets, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.mode = "fast"  # type: ignore[misc]


def test_errors_name_the_yaml_path_of_every_problem(write_config: Callable[[Any], Path]) -> None:
    path = write_config({
        "targets": [{"name": "a", "dsn": "x"}, {"name": 3.5, "interval": "soon"}],
        "mdoe": "fast",
    })
    with pytest.raises(ConfigError) as exc:
        load(Sample, path)
    got = details(exc)
    assert got["targets[1].dsn"] == "field required"
    assert "invalid duration 'soon'" in got["targets[1].interval"]
    assert got["mdoe"] == "unknown field (did you mean 'mode'?)"
    assert str(path) in str(exc.value)


def test_wrong_types_and_literals_are_reported(write_config: Callable[[Any], Path]) -> None:
    path = write_config({"targets": "db1", "mode": "turbo", "labels": ["x"]})
    with pytest.raises(ConfigError) as exc:
        load(Sample, path)
    got = details(exc)
    assert got["targets"] == "expected a list, got str"
    assert got["mode"] == "must be one of 'fast', 'safe', got 'turbo'"
    assert got["labels"] == "expected a mapping, got list"


def test_post_init_errors_are_reported_at_their_object(write_config: Callable[[Any], Path]) -> None:
    with pytest.raises(ConfigError) as exc:
        load(Sample, write_config({"targets": []}))
    assert details(exc)[""] == "at least one target is required"


def test_env_substitution_fills_secrets_and_reports_unset(
        write_config: Callable[[Any], Path]) -> None:
    path = write_config({"targets": [{"name": "a", "dsn": "postgresql://u:${PGPW}@h/db"}],
                         "token": "${TOKEN:-fallback}"})
    cfg = load(Sample, path, env={"PGPW": "s3cret-pw"})
    assert str(cfg.targets[0].dsn) == "postgresql://u:s3cret-pw@h/db"
    assert cfg.token == "fallback"
    with pytest.raises(ConfigError) as exc:
        load(Sample, path, env={})
    assert "environment variable PGPW is not set" in details(exc)["targets[0].dsn"]


def test_env_values_cannot_inject_yaml_structure(write_config: Callable[[Any], Path]) -> None:
    path = write_config({"targets": [{"name": "${NAME}", "dsn": "x"}]})
    cfg = load(Sample, path, env={"NAME": "a\nmode: fast"})
    assert cfg.targets[0].name == "a\nmode: fast"
    assert cfg.mode == "safe"


def test_invalid_yaml_names_line_and_column(write_config: Callable[[Any], Path]) -> None:
    with pytest.raises(ConfigError) as exc:
        load(Sample, write_config("targets: [\n  - {name: a\n"))
    assert "line" in str(exc.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load(Sample, tmp_path / "nope.yml")


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15.0), ("5m", 300.0), ("1h30m", 5400.0), ("500ms", 0.5), (2, 2.0), ("1d", 86400.0),
])
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "5 minutes", "-1s", True, None, -3, "1h 30m"])
def test_bad_durations_are_rejected(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_build_accepts_plain_data() -> None:
    cfg = build(Sample, {"targets": [{"name": "a", "dsn": "x"}], "labels": {"env": "prod"}})
    assert cfg.labels["env"] == "prod"
