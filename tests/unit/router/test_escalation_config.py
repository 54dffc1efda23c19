"""router/config/: escalation.yml and router.yml cross-checks, each at its YAML path.

tests/router/test_router_config.py covers the shipped files and the common typos; these
cover every remaining rule of ``check_escalation`` and the router file's own checks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from router.config import Escalation, check_escalation, load_config
from vigil.core import secrets
from vigil.core.config import build
from vigil.core.errors import ConfigError

from .escalation_data import escalation_doc


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as exc:
        check_escalation(build(Escalation, doc), "escalation.yml")
    return exc.value.details


def has(details: list[tuple[str, str]], path: str, words: str) -> bool:
    return any(loc == path and words in msg for loc, msg in details)


def test_the_sample_document_is_valid() -> None:
    esc = check_escalation(build(Escalation, escalation_doc()), "escalation.yml")
    assert set(esc.levels) == {"P1", "P2", "P3", "P4"}


def test_an_unknown_level_is_refused() -> None:
    doc = escalation_doc()
    doc["levels"]["P5"] = doc["levels"]["P4"]
    assert has(problems(doc), "levels.P5", "unknown level; use one of P1, P2, P3, P4")


@pytest.mark.parametrize(("channel", "field"), [
    ({"type": "webhook"}, "url"), ({"type": "slack"}, "url"),
    ({"type": "email", "sender": "v@x"}, "smtp_host"),
    ({"type": "email", "smtp_host": "mx"}, "sender"),
    ({"type": "file"}, "path"), ({"type": "pagerduty"}, "routing_key"),
])
def test_each_channel_type_names_its_required_field(channel: dict[str, Any],
                                                    field: str) -> None:
    doc = escalation_doc()
    doc["channels"]["hook"] = channel
    assert has(problems(doc), f"channels.hook.{field}",
               f"required for a {channel['type']} channel")


def test_an_unknown_channel_type_fails_at_the_shape_check() -> None:
    doc = escalation_doc()
    doc["channels"]["hook"]["type"] = "fax"
    assert has(problems(doc), "channels.hook.type", "must be one of 'webhook'")


def test_an_email_target_needs_addresses() -> None:
    doc = escalation_doc()
    doc["channels"]["mail"] = {"type": "email", "smtp_host": "mx", "sender": "v@x"}
    doc["targets"]["sec"] = {"channel": "mail"}
    assert has(problems(doc), "targets.sec.to", "an email target needs addresses")
    doc["targets"]["sec"]["to"] = ["sec@example.org"]
    check_escalation(build(Escalation, doc), "escalation.yml")


def test_steps_must_be_in_order_of_delay_and_name_a_target() -> None:
    doc = escalation_doc()
    doc["levels"]["P1"]["steps"][1]["delay"] = "0s"
    doc["levels"]["P1"]["steps"][0]["delay"] = "5m"
    doc["levels"]["P2"]["steps"][0]["targets"] = []
    got = problems(doc)
    assert has(got, "levels.P1.steps[1].delay", "steps must be in order of delay")
    assert has(got, "levels.P2.steps[0].targets", "at least one target is required")


def test_a_level_needs_steps_and_a_positive_stale_after() -> None:
    doc = escalation_doc()
    doc["levels"]["P2"]["steps"] = []
    doc["levels"]["P3"]["stale_after"] = 0
    got = problems(doc)
    assert has(got, "levels.P2.steps", "at least one step is required")
    assert has(got, "levels.P3.stale_after", "must be positive")


def test_the_default_severity_must_be_a_level() -> None:
    doc = escalation_doc()
    doc["severity"]["default"] = "urgent"
    assert has(problems(doc), "severity.default", "must be one of P1, P2, P3, P4")


@pytest.mark.parametrize(("repeat", "words"), [
    ({"times": -1}, "repeat.times must not be negative"),
    ({"times": 2}, "repeat.interval must be positive"),
])
def test_a_repeat_needs_a_count_and_an_interval(repeat: dict[str, Any], words: str) -> None:
    doc = escalation_doc()
    doc["levels"]["P1"]["repeat"] = repeat
    assert has(problems(doc), "levels.P1.repeat", words)


def test_every_problem_is_reported_at_once() -> None:
    doc = escalation_doc()
    doc["targets"]["cto"]["channel"] = "pager"
    doc["levels"].pop("P4")
    doc["severity"]["mapping"]["loud"] = "P9"
    assert {loc for loc, _ in problems(doc)} == {
        "targets.cto.channel", "levels.P4", "severity.mapping.loud"}


def test_credential_urls_and_headers_are_registered_as_secrets() -> None:
    doc = escalation_doc()
    slack = "https://hooks.slack.example/services/T0/B0/unit-slack-4be1"
    doc["channels"]["chat"] = {"type": "slack", "url": slack}
    doc["channels"]["hook"]["headers"] = {"Authorization": "Bearer unit-hdr-77c2",
                                          "X-Team": "sec-team"}
    build(Escalation, doc)
    line = secrets.scrub(f"posting to {slack} with Bearer unit-hdr-77c2 for sec-team")
    assert "unit-slack-4be1" not in line and "unit-hdr-77c2" not in line
    assert "sec-team" in line                         # a plain header stays readable


def router_doc(**over: Any) -> dict[str, Any]:
    return {"database": {"dsn": "postgresql://r@127.0.0.1/router"},
            "auth": {"bearer_token": "unit-token-5d"}, **over}


def test_router_yml_names_its_escalation_file_relative_to_itself(
        write_yaml: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    write_yaml(escalation_doc(), "conf/matrix.yml")
    path = write_yaml(router_doc(escalation_file="matrix.yml",
                                 engine={"tick_interval": "250ms"}), "conf/router.yml")
    cfg = load_config(path)
    assert cfg.router.engine.tick_interval == 0.25
    assert cfg.escalation.levels["P4"].notify_on_resolve is False
    assert cfg.source == str(path)


def test_router_yml_without_any_auth_is_refused(write_yaml: Callable[..., Path]) -> None:
    write_yaml(escalation_doc(), "escalation.yml")
    with pytest.raises(ConfigError) as exc:
        load_config(write_yaml(router_doc(auth={}), "router.yml"))
    assert has(exc.value.details, "auth", "set auth.bearer_token and/or auth.basic")


def test_a_broken_escalation_file_is_reported_under_its_own_name(
        write_yaml: Callable[..., Path]) -> None:
    doc = escalation_doc()
    doc["levels"]["P1"]["steps"][0]["targets"] = ["nobody"]
    esc = write_yaml(doc, "escalation.yml")
    with pytest.raises(ConfigError) as exc:
        load_config(write_yaml(router_doc(), "router.yml"))
    assert exc.value.source == str(esc)
    assert has(exc.value.details, "levels.P1.steps[0].targets[0]", "unknown target 'nobody'")
