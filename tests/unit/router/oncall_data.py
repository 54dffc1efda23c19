"""Small oncall.yml documents as data, for the schedule tests to build and mutate."""

from __future__ import annotations

import copy
from typing import Any

from router.oncall.load import build_oncall
from router.oncall.model import Oncall, Schedule

PEOPLE: dict[str, Any] = {
    "alice": {"channels": [{"channel": "hook"}]},
    "bob": {"channels": [{"channel": "hook"}]},
    "carol": {"channels": [{"channel": "hook"}, {"channel": "mail", "to": ["carol@example.org"]}]},
}


def oncall_doc(**schedules: dict[str, Any]) -> dict[str, Any]:
    return {"people": copy.deepcopy(PEOPLE), "schedules": copy.deepcopy(schedules)}


def schedule(zone: str, *, every: str = "daily", handoff: str = "09:00",
             start: str = "2026-03-01", people: list[str] | None = None,
             overrides: list[dict[str, str]] | None = None, rotation: bool = True,
             fallback: str = "lead") -> Schedule:
    """One checked schedule named ``s``."""
    doc: dict[str, Any] = {"time_zone": zone, "fallback": fallback,
                           "overrides": overrides or []}
    if rotation:
        doc["rotation"] = {"every": every, "handoff": handoff, "start": start,
                           "people": people or ["alice", "bob"]}
    oncall: Oncall = build_oncall(oncall_doc(s=doc), "oncall.yml")
    return oncall.schedules["s"]
