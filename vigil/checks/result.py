"""One check's verdict. ``no_data`` is its own state: nothing was examined, which is neither
a pass nor a threshold crossed (⚠ and exit code 2 in ``vigil check``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    value: float | None
    threshold: float | None
    detail: str = ""
    no_data: bool = False
