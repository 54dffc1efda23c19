"""report.md: a short summary for chat or mail; the details stay in report.html/json."""

from __future__ import annotations

from typing import Any


def render(doc: dict[str, Any]) -> str:
    lines = [f"**vigil security report {doc['date']}**: {doc['status'].upper()}", ""]
    for name, state in doc["sections_status"].items():
        lines.append(f"- {name}: {state}")
    for name, t in doc["thresholds"].items():
        over = [f"{k} {s.get('seconds_over_threshold', 0) // 60:.0f} min"
                for k, s in t["series"].items() if s.get("seconds_over_threshold")]
        if over:
            lines.append(f"- over the {t['threshold_seconds'] * 1000:g} ms {name} threshold: "
                         + ", ".join(over))
    bad = [c["collector"] for c in doc["collection"].values() if c["status"] != "ok"]
    if bad:
        lines.append(f"- collectors with failures or gaps: {', '.join(bad)}")
    if doc["missing"]:
        lines.append(f"- MISSING DATA ({len(doc['missing'])}): "
                     + "; ".join(doc["missing"][:5]))
    lines += ["", f"hash `{doc['hash'][:16]}...`; review with "
              f"`vigil report attest {doc['date']} --by NAME`", ""]
    return "\n".join(lines)
