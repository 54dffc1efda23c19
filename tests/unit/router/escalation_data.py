"""A small, valid escalation.yml as data, for tests to mutate."""

from __future__ import annotations

import copy
from typing import Any

_BASE: dict[str, Any] = {
    "channels": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/notify"}},
    "targets": {"sec": {"channel": "hook"}, "cto": {"channel": "hook"},
                "legal": {"channel": "hook"}, "oncall": {"channel": "hook"}},
    "levels": {
        "P1": {"response_time": "15m",
               "steps": [{"delay": "0s", "targets": ["sec"]},
                         {"delay": "15m", "targets": ["cto"]}],
               "repeat": {"times": 2, "interval": "10m"},
               "notices": [{"delay": "0s", "targets": ["cto", "legal"]},
                           {"delay": "5m", "targets": ["legal"]}]},
        "P2": {"response_time": "1h", "steps": [{"delay": "0s", "targets": ["sec"]}]},
        "P3": {"response_time": "4h", "steps": [{"delay": "0s", "targets": ["oncall"]}],
               "stale_after": "1h"},
        "P4": {"response_time": "1d", "steps": [{"delay": 0, "targets": ["oncall"]}],
               "notify_on_resolve": False},
    },
    "severity": {"mapping": {"Critical": "P1", "warning": "P3"}},
}


def escalation_doc() -> dict[str, Any]:
    """A fresh deep copy: each test mutates its own."""
    return copy.deepcopy(_BASE)
