"""Containment targets and plans, without a database: how actions are named and refused."""

from __future__ import annotations

import pytest

from vigil.contain.model import Plan, Step, Target, TargetError


def test_an_action_label_round_trips_and_keeps_colons_in_the_value() -> None:
    for target in (Target("role", "app"), Target("actor", "user:42"),
                   Target("tenant", "8c5d3f7e-0000-4000-8000-00000000000a")):
        assert Target.parse(target.label) == target


@pytest.mark.parametrize("label", ["app", "table:x", ":x", "role:", "role: "])
def test_a_malformed_action_is_refused_naming_the_argument(label: str) -> None:
    with pytest.raises(TargetError) as err:
        Target.parse(label)
    assert err.value.field in {"--action", "--role"}


def test_an_empty_or_nul_target_names_its_flag() -> None:
    with pytest.raises(TargetError, match=r"^--tenant: "):
        Target("tenant", "")
    with pytest.raises(TargetError, match=r"^--actor: "):
        Target("actor", "a\x00b")


def test_a_plan_without_steps_is_a_noop_and_its_json_lists_each_statement() -> None:
    target = Target("role", "app")
    assert Plan("release", target, "db", None, ()).noop
    plan = Plan("contain", target, "db", 3, (Step("ALTER ROLE app NOLOGIN", "no logins"),
                                             Step("SELECT 1", "end sessions", after=True)))
    doc = plan.to_json()
    assert not plan.noop and doc["incident_id"] == 3
    assert doc["steps"][1] == {"sql": "SELECT 1", "effect": "end sessions", "after_commit": True}
