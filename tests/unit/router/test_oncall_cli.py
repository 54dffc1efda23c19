"""``vigil oncall now|next``: a table for people, JSON for scripts, exit 1 when a schedule has
nobody (its fallback is paged), exit 2 for usage errors. Reads only the config files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vigil.cli import main

from .escalation_data import escalation_doc
from .oncall_data import oncall_doc

REPO = Path(__file__).resolve().parents[3]


def shipped(*argv: str) -> list[str]:
    return ["oncall", *argv, "--oncall", str(REPO / "config" / "oncall.yml"),
            "--escalation", str(REPO / "config" / "escalation.yml")]


def test_now_and_next_on_the_shipped_schedule_across_the_spring_forward(
        capsys: pytest.CaptureFixture[str]) -> None:
    # 2026-03-08 12:00 UTC is 08:00 EDT (clocks went forward at 07:00 UTC): the weekly
    # Monday 09:00 New York hand-off is 2026-03-09 13:00 UTC.
    assert main(shipped("now", "--at", "2026-03-08T12:00Z")) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["schedule", "on", "call", "via", "from", "until"]
    assert "primary   alice" in table and "2026-03-09 09:00 EDT" in table
    assert main(shipped("next", "primary", "--at", "2026-03-08T12:00Z", "--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    [row] = doc["schedules"]
    assert (row["now"]["person"], row["next"]["person"]) == ("alice", "bob")
    assert row["next"]["since"] == "2026-03-09T13:00:00+00:00"


def test_nobody_scheduled_exits_1_and_names_the_fallback(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(shipped("now", "--at", "2025-12-01T00:00")) == 1   # before the first hand-off
    assert "nobody: fallback team-lead" in capsys.readouterr().out


def test_usage_errors_exit_2_naming_the_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(shipped("now", "nope")) == 2
    assert "schedule: unknown schedule 'nope' (known: primary)" in capsys.readouterr().err
    assert main(shipped("now", "--at", "yesterday")) == 2
    assert "--at: 'yesterday' is not an ISO 8601 time" in capsys.readouterr().err


def test_a_config_error_is_printed_with_its_yaml_path(
        write_yaml: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    doc: dict[str, Any] = oncall_doc(s={"time_zone": "Mars/Olympus", "fallback": "oncall"})
    path = write_yaml(doc, "oncall.yml")
    esc = write_yaml(escalation_doc(), "escalation.yml")
    assert main(["oncall", "now", "--oncall", str(path), "--escalation", str(esc)]) == 1
    assert "schedules.s.time_zone: unknown time zone 'Mars/Olympus'" in capsys.readouterr().err
