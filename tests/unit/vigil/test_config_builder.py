"""vigil.core.config: shape checks with YAML paths, duplicate keys, env substitution, durations.

tests/shared/test_config.py covers the basics; these pin the edges a typo in production
YAML hits first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from vigil.core import secrets
from vigil.core.config import Dsn, Seconds, Secret, build, load, load_yaml, parse_duration
from vigil.core.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Pool:
    size: int = 1
    timeout: Seconds = 2.0


@dataclasses.dataclass(frozen=True)
class App:
    name: str
    enabled: bool = True
    ratio: float = 0.5
    pool: Pool = Pool()
    fallback: Pool | None = None
    tags: tuple[str, ...] = ()
    token: Secret | None = None
    dsn: Dsn | None = None
    limits: dict[str, int] = dataclasses.field(default_factory=dict)


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return dict(exc.value.details)


def test_a_key_given_twice_fails_with_both_lines(write_yaml: Callable[..., Path]) -> None:
    path = write_yaml("name: a\npool:\n  size: 2\n  size: 3\n")
    with pytest.raises(ConfigError) as exc:
        load(App, path)
    message = str(exc.value)
    assert "duplicate key 'size' (first given on line 3)" in message
    assert "line 4" in message


def test_a_merge_key_may_be_overridden(write_yaml: Callable[..., Path]) -> None:
    path = write_yaml("base: &b {size: 2, timeout: 1s}\n"
                      "name: a\npool:\n  <<: *b\n  size: 5\n")
    data = load_yaml(path)
    data.pop("base")
    assert build(App, data).pool == Pool(size=5, timeout=1.0)


def test_every_problem_is_reported_at_its_nested_path() -> None:
    with pytest.raises(ConfigError) as exc:
        build(App, {"name": "a", "enabled": "yes", "ratio": True,
                    "pool": {"size": 1.5, "timeout": "2 secs"},
                    "tags": ["x", 3, None], "limits": {"rows": "many"}})
    got = problems(exc)
    assert got["enabled"] == "expected true or false, got 'yes'"
    assert got["ratio"] == "expected a number, got True"
    assert got["pool.size"] == "expected an integer, got 1.5"
    assert "invalid duration '2 secs'" in got["pool.timeout"]
    assert got["tags[2]"] == "expected str, got null"
    assert got["limits.rows"] == "expected an integer, got 'many'"
    assert "tags[1]" not in got          # a number is a fine string: YAML `3` for a tag


@dataclasses.dataclass(frozen=True)
class Moved:
    size: int = 1
    RETIRED_FIELDS: ClassVar[dict[str, str]] = {"url": "moved: set the top-level url"}


@dataclasses.dataclass(frozen=True)
class Holder:
    url: str = ""
    pool: Moved = Moved()


def test_a_retired_key_fails_at_its_path_saying_what_to_write_instead() -> None:
    with pytest.raises(ConfigError) as exc:
        build(Holder, {"pool": {"url": "x", "size": "big", "sise": 2}}, "app.yml")
    assert problems(exc) == {"pool.url": "moved: set the top-level url",
                             "pool.size": "expected an integer, got 'big'",
                             "pool.sise": "unknown field (did you mean 'size'?)"}
    assert build(Holder, {"url": "x"}) == Holder(url="x")   # where it lives now, it is fine


def test_a_boolean_is_not_an_integer_and_a_list_is_not_a_string() -> None:
    with pytest.raises(ConfigError) as exc:
        build(App, {"name": ["a"], "pool": {"size": True}})
    got = problems(exc)
    assert got["name"] == "expected a string, got list"
    assert got["pool.size"] == "expected an integer, got True"


def test_an_optional_section_may_be_null_and_a_missing_one_keeps_its_default() -> None:
    cfg = build(App, {"name": "a", "fallback": None})
    assert cfg.fallback is None and cfg.pool == Pool()
    cfg = build(App, {"name": "a", "fallback": {"size": 3}})
    assert cfg.fallback == Pool(size=3)


def test_a_mapping_with_non_string_keys_is_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        build(App, {"name": "a", "limits": {1: 2}})
    assert problems(exc)["limits"] == "keys must be strings, got 1"


def test_a_section_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        build(App, {"name": "a", "pool": "big"})
    assert problems(exc)["pool"] == "expected a mapping, got str"
    with pytest.raises(ConfigError) as exc:
        build(App, ["name"])
    assert problems(exc)[""] == "expected a mapping, got list"


def test_a_config_object_is_frozen_and_its_mappings_read_only() -> None:
    cfg = build(App, {"name": "a", "limits": {"rows": 5}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.limits["rows"] = 6  # type: ignore[index]


def test_build_alone_substitutes_no_environment() -> None:
    data = {"name": "$${HOME}-${NAME:-anon}"}
    assert build(App, data).name == "$${HOME}-${NAME:-anon}"   # build alone substitutes nothing


def test_env_substitution_escapes_and_defaults(write_yaml: Callable[..., Path]) -> None:
    path = write_yaml({"name": "$${LITERAL}-${WHO:-anon}", "tags": ["${TAG}"]})
    cfg = load(App, path, env={"TAG": "blue"})
    assert cfg.name == "${LITERAL}-anon"
    assert cfg.tags == ("blue",)


def test_a_secret_looking_env_var_is_registered_for_scrubbing(
        write_yaml: Callable[..., Path]) -> None:
    value = "tok-unit-8c1f2e"
    path = write_yaml({"name": "svc-${API_TOKEN}"})
    load(App, path, env={"API_TOKEN": value})
    assert value not in secrets.scrub(f"calling with {value}")


def test_secrets_and_dsns_never_show_in_a_repr() -> None:
    cfg = build(App, {"name": "a", "token": "tok-unit-93bd",
                      "dsn": "postgresql://u:pw-unit-71aa@h/db"})
    assert "tok-unit-93bd" not in repr(cfg)
    assert "pw-unit-71aa" not in repr(cfg)
    assert cfg.dsn is not None and "pw-unit-71aa" not in cfg.dsn.redacted
    assert str(cfg.token) == "tok-unit-93bd"     # the value itself is intact for use


def test_an_unreadable_or_malformed_file_is_a_config_error(
        write_yaml: Callable[..., Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_yaml(tmp_path)            # a directory
    with pytest.raises(ConfigError, match=r"line 2, column \d+"):
        load_yaml(write_yaml("name: a\n  bad: [\n"))


@pytest.mark.parametrize(("text", "seconds"), [
    ("1w", 604800.0), ("1.5h", 5400.0), (" 30s ", 30.0), ("2m30s", 150.0), (0, 0.0),
    (0.25, 0.25), ("1h0m0s", 3600.0),
])
def test_durations_in_every_unit(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["s", "1x", "m5", "1h-5m", "1.s", [], {"s": 1}])
def test_a_malformed_duration_says_how_to_write_one(bad: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)
