"""The lines of a part's log that say why it failed, not whatever scrolled past last.

A part that fails at start usually says why once, then keeps logging (Prometheus logs its
shutdown sequence after the rule error; Python logs the whole traceback, whose last line
is the one that matters). ``why_failed`` reads only the output of this start (from the
offset the log had when the part was spawned), keeps the error lines and a traceback's
tail, and falls back to the last lines when nothing looks like an error.
"""

from __future__ import annotations

import re
from pathlib import Path

# Go services (Prometheus, Alertmanager) log logfmt "level=error"; vigil's own parts log
# "ERROR"/"CRITICAL" or die with a Python traceback.
_ERROR = re.compile(r"level=(error|fatal|crit)|\b(ERROR|CRITICAL|FATAL|Error|error:)\b|"
                    r"err=|Traceback \(most recent call last\)")
_TRACEBACK_TAIL = 6
_MAX_LINES = 12


def read_since(path: Path, offset: int) -> list[str]:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def why_failed(path: Path, offset: int = 0) -> str:
    """The failure's own lines from ``path`` (written after ``offset``), indented."""
    lines = [ln for ln in read_since(path, offset) if ln.strip()]
    if not lines:
        return "    (the part wrote nothing to its log)"
    picked: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            # The frames say where, the last lines say what: keep the end of it.
            picked.extend(ln for ln in lines[max(i + 1, len(lines) - _TRACEBACK_TAIL):]
                          if ln not in picked)
            break
        if _ERROR.search(line) and line not in picked:
            picked.append(line)
    if not picked:
        picked = lines[-_MAX_LINES:]
    return "\n".join(f"    {ln}" for ln in picked[:_MAX_LINES])
