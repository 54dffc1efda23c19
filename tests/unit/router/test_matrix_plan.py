"""router/matrix.py: which level an alert gets, and the rows its level schedules."""

from __future__ import annotations

import pytest

from router.config import DEFAULT_STALE_AFTER, Escalation, check_escalation
from router.matrix import Matrix, Planned
from vigil.core.config import build

from .escalation_data import escalation_doc


@pytest.fixture
def matrix() -> Matrix:
    return Matrix(check_escalation(build(Escalation, escalation_doc()), "escalation.yml"))


def test_a_p1_plan_pages_repeats_the_last_step_and_always_notifies(matrix: Matrix) -> None:
    assert matrix.plan("P1") == [
        Planned("step", 1, 0.0, ("sec",)),
        Planned("step", 2, 900.0, ("cto",)),
        # repeats continue the step count, every repeat.interval after the last step
        Planned("step", 3, 1500.0, ("cto",)),
        Planned("step", 4, 2100.0, ("cto",)),
        Planned("notice", 1, 0.0, ("cto", "legal")),
        Planned("notice", 2, 300.0, ("legal",)),
        Planned("sla", 0, 900.0, ()),
    ]


def test_a_level_without_repeats_or_notices_has_its_steps_and_an_sla_check(
        matrix: Matrix) -> None:
    assert matrix.plan("P3") == [Planned("step", 1, 0.0, ("oncall",)),
                                 Planned("sla", 0, 14400.0, ())]


def test_the_sla_row_is_due_at_the_response_time(matrix: Matrix) -> None:
    for level in ("P1", "P2", "P3", "P4"):
        sla = [p for p in matrix.plan(level) if p.kind == "sla"]
        assert sla == [Planned("sla", 0, matrix.response_time(level), ())]


def test_a_plan_is_a_fresh_list_each_time(matrix: Matrix) -> None:
    plan = matrix.plan("P2")
    plan.append(Planned("resolve", 0, 0.0, ()))
    assert len(matrix.plan("P2")) == 2


@pytest.mark.parametrize(("labels", "level", "fallback"), [
    ({"severity": "P2"}, "P2", False),
    ({"severity": "p4"}, "P4", False),
    ({"severity": " critical "}, "P1", False),      # the mapping is case-insensitive
    ({"severity": "WARNING"}, "P3", False),
    ({"severity": "shrug"}, "P3", True),            # unknown: the default, counted
    ({}, "P3", True),                               # missing: the default, counted
])
def test_the_severity_label_picks_the_level(matrix: Matrix, labels: dict[str, str],
                                            level: str, fallback: bool) -> None:
    result = matrix.severity(labels)
    assert (result.level, result.fallback) == (level, fallback)
    assert result.raw == labels.get("severity")


def test_the_severity_label_name_and_default_are_configurable() -> None:
    doc = escalation_doc()
    doc["severity"] = {"label": "priority", "default": "P4", "mapping": {"sev1": "P1"}}
    matrix = Matrix(build(Escalation, doc))
    assert matrix.severity({"priority": "SEV1", "severity": "P4"}).level == "P1"
    assert matrix.severity({"severity": "P1"}).level == "P4"


def test_stale_after_defaults_per_level_unless_set(matrix: Matrix) -> None:
    assert matrix.stale_after("P3") == 3600.0
    assert matrix.stale_after("P1") == DEFAULT_STALE_AFTER["P1"]


def test_targets_resolve_to_their_channel_and_resolve_notices_follow_the_level(
        matrix: Matrix) -> None:
    assert matrix.channel_of("legal") == "hook"
    assert matrix.notify_on_resolve("P1") is True
    assert matrix.notify_on_resolve("P4") is False
