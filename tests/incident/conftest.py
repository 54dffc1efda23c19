"""Fixtures of tests/incident: see incident_helpers.py."""

from incident_helpers import world

__all__ = ["world"]
