"""Every `vigil alert ...` and `vigil incident ...` command docs/runbook.md shows parses with
the real CLI (placeholders such as ${alertId} filled in)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from vigil.cli import build_parser

PLACEHOLDERS = {"alertId": "1", "incidentId": "1", "severity": "P1", "incidentType": "access"}
RUNBOOK = Path(__file__).resolve().parents[3] / "docs" / "runbook.md"


def _commands() -> list[str]:
    text = RUNBOOK.read_text().replace("\\\n", " ")
    found = re.findall(r"^\s*\$ (vigil (?:alert|incident) [^#\n]*)", text, re.M)
    # A line showing alternatives ("[--role R | --actor A]") is a synopsis, not a command.
    return [re.sub(r"\$\{(\w+)\}", lambda m: PLACEHOLDERS.get(m.group(1), "x"), c)
            for c in found if "[" not in c]


def test_the_runbooks_alert_and_incident_commands_parse() -> None:
    commands = _commands()
    assert len(commands) >= 12, commands
    parser = build_parser()
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])
        assert callable(args.func), command
