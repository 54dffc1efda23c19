"""Durations: the one place that reads and writes ``15s``, ``1h30m``, ``500ms``.

Two grammars, because two readers exist:

- ``parse(value)``: vigil's YAML configs. Bare numbers are seconds, decimals are allowed
  (``1.5s``), units ms s m h d w.
- ``parse_prometheus(text)``: what Prometheus and Alertmanager accept in their own files
  (whole numbers with a unit, ``y`` too, no bare numbers). The rule overlay rewrites those.

``format(seconds)`` writes the shortest Prometheus duration (``2h15m``), which both read.
"""

from __future__ import annotations

import re
from typing import Any

from vigil.core.errors import VigilError


class DurationError(VigilError, ValueError):
    """Not a duration; the message shows the expected form."""


_CONFIG_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_PROM_PART = re.compile(r"(\d+)(ms|[smhdwy])")
PROMETHEUS_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"   # for regexes that find durations in PromQL
_PROM_FULL = re.compile(rf"^{PROMETHEUS_DURATION}$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
            "y": 365 * 86400.0}
# Largest first; whole milliseconds.
_FORMAT_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def parse(value: Any) -> float:
    """``"1h30m"`` -> 5400.0. Bare numbers are seconds. Raises DurationError with a fix."""
    if isinstance(value, bool):
        raise DurationError(f"expected a duration like 15s, 5m or 1h, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise DurationError(f"duration must not be negative, got {value}")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise DurationError(f"expected a duration like 15s, 5m or 1h, got {value!r}")
    text = value.strip()
    pos, total = 0, 0.0
    for m in _CONFIG_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise DurationError(
            f"invalid duration {value!r}: use a number with a unit (ms, s, m, h, d, w)")
    return total


def parse_prometheus(text: str) -> float:
    """Seconds in a Prometheus duration such as ``5m``, ``1h30m``, ``500ms`` or ``0s``."""
    text = str(text).strip()
    if not _PROM_FULL.match(text):
        raise DurationError(f"{text!r} is not a Prometheus duration (e.g. 30s, 5m, 1h30m)")
    return sum(int(n) * _SECONDS[u] for n, u in _PROM_PART.findall(text))


def format(seconds: float) -> str:
    """The shortest Prometheus duration for ``seconds`` (whole milliseconds): ``2100`` ->
    ``35m``, ``8100`` -> ``2h15m``, ``172800`` -> ``2d``, ``0`` -> ``0s``."""
    ms = round(seconds * 1000)
    if ms <= 0:
        return "0s"
    out = []
    for unit, size in _FORMAT_UNITS:
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)
