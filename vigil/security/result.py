"""One security test's verdict: pass, fail, or not examined (never a pass by default)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    NOT_EXAMINED = "not examined"


@dataclass(frozen=True)
class SecurityTest:
    control: str    # the control under test, named in every verdict
    subject: str    # the role, table or object it was tried on
    outcome: Outcome
    tried: str      # what it did (statements in words: names only, never a value)
    detail: str = ""

    @property
    def mark(self) -> str:
        return {Outcome.PASS: "✓", Outcome.FAIL: "✗", Outcome.NOT_EXAMINED: "⚠"}[self.outcome]

    def line(self) -> str:
        verdict = "not examined: " + self.detail if self.outcome is Outcome.NOT_EXAMINED \
            else self.detail
        return f"{self.mark} {self.control} [{self.subject}]: tried {self.tried}" + (
            f" -> {verdict}" if verdict else "")

    def as_json(self) -> dict[str, Any]:
        return {"control": self.control, "subject": self.subject,
                "outcome": self.outcome.value, "tried": self.tried, "detail": self.detail}


def passed(control: str, subject: str, tried: str, detail: str = "") -> SecurityTest:
    return SecurityTest(control, subject, Outcome.PASS, tried, detail)


def failed(control: str, subject: str, tried: str, detail: str) -> SecurityTest:
    return SecurityTest(control, subject, Outcome.FAIL, tried, detail)


def unexamined(control: str, subject: str, tried: str, why: str) -> SecurityTest:
    return SecurityTest(control, subject, Outcome.NOT_EXAMINED, tried, why)
