"""``vigil recovery report``: the checklist's verdict, and the incident when one is named, as
Markdown for people and JSON for tools, written side by side."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from vigil.recovery.verify import Item, exit_code


def build(items: list[Item], *, database: str, generated_at: datetime,
          incident: dict[str, Any] | None) -> dict[str, Any]:
    return {"generated_at": generated_at.isoformat(), "database": database,
            "verdict": {0: "pass", 1: "fail", 2: "no data"}[exit_code(items)],
            "checklist": [i.as_json() for i in items], "incident": incident}


def write(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    stamp = datetime.fromisoformat(doc["generated_at"]).strftime("%Y%m%dT%H%M%SZ")
    who = f"incident-{doc['incident']['id']}" if doc["incident"] else "system"
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / f"recovery-{who}-{stamp}.md", out_dir / f"recovery-{who}-{stamp}.json"
    _private(js, json.dumps(doc, indent=2, default=str) + "\n")
    _private(md, markdown(doc))
    return md, js


def _private(path: Path, text: str) -> None:
    """Readable by whoever ran the report only (0600): it describes an incident's response,
    like the evidence bundle (vigil/evidence/manifest.py)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)   # a file left by an earlier run keeps its mode otherwise
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


_MARK = {"pass": "✓", "fail": "✗", "no data": "⚠"}


def markdown(doc: dict[str, Any]) -> str:
    lines = [f"# Recovery report: {doc['database']}", "",
             f"Generated {doc['generated_at']}. Verdict: **{doc['verdict']}**.", ""]
    inc = doc["incident"]
    if inc:
        lines += [f"## Incident {inc['id']} ({inc['severity']}, {inc['type']}, {inc['status']})",
                  "", f"Alerts: {', '.join(map(str, inc['alert_ids'])) or 'none'}", "",
                  "| milestone | at | time from detection |", "|---|---|---|"]
        for name, m in inc["milestones"].items():
            secs = m["seconds_from_detection"]
            lines.append(f"| {name} | {m['at'] or 'not reached'} | "
                         f"{'-' if secs is None else _duration(secs)} |")
        for title, key in (("Containments", "containments"), ("Releases", "releases")):
            lines += ["", f"### {title}", ""]
            lines += [f"- {e['at']} {e['kind']} by {e.get('actor') or '-'}{_refused(e)}: "
                      f"{json.dumps(e.get('detail'), default=str)}" for e in inc[key]] or [
                "none recorded in the incident's timeline"]
        lines += ["", "### Timeline", "", "| at | event | actor |", "|---|---|---|"]
        lines += [f"| {e['at']} | {e['kind']} | {e.get('actor') or ''} |" for e in inc["timeline"]]
        lines.append("")
    lines += ["## System Recovery Checklist", ""]
    for item in doc["checklist"]:
        lines.append(f"- {_MARK[item['status']]} **{item['item']}**")
        lines += [f"  - {'⚠' if c['no_data'] else '✓' if c['ok'] else '✗'} {c['name']}: "
                  f"{c['detail']}" for c in item["checks"]]
    return "\n".join(lines) + "\n"


def _refused(event: dict[str, Any]) -> str:
    """A contained actor's writes refused (schema 020), as the event's verification counted
    them: what a security engineer reads first, so it leads the line."""
    check = (event.get("detail") or {}).get("verification")
    count = check.get("refused_writes") if isinstance(check, dict) else None
    return "" if count is None else f" ({count} write(s) refused while contained)"


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s"
