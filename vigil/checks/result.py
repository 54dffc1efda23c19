"""One check's verdict. ``no_data`` is its own state: nothing was examined, which is neither
a pass nor a threshold crossed (⚠ and exit code 2 in ``vigil check``)."""

from __future__ import annotations

from dataclasses import dataclass

RUNBOOK = "docs/runbook.md"
# The runbook section a responder follows when the check fails (its "Action Items" guides):
# anchors of docs/runbook.md headings, checked against the page by tests/checks.
GUIDES: dict[str, str] = {
    "RLS Overhead": "rls-optimization",
    "PHI Query Time": "phi-performance",
    "Audit Write Time": "audit-performance",
    "Audit chain": "audit-integrity",
    "Audit coverage": "audit-coverage",
    "Tenant isolation": "security-incident-procedure",
    "Controls": "controls",
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    value: float | None = None          # what was measured, where a number was
    threshold: float | None = None      # the number it was held to
    detail: str = ""
    no_data: bool = False

    @property
    def status(self) -> str:
        return "no_data" if self.no_data else "pass" if self.ok else "fail"

    @property
    def guide(self) -> str:
        """Where the runbook says what to do about this check: ``docs/runbook.md#anchor``."""
        anchor = GUIDES.get(self.name)
        return f"{RUNBOOK}#{anchor}" if anchor else RUNBOOK
