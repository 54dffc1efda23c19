"""Errors of the report and collection checks (small hierarchy, actionable messages)."""

from __future__ import annotations

from vigil.core.errors import VigilError


class ReportError(VigilError):
    """A report could not be built, stored or verified; the message says which and why."""

