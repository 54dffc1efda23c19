"""docs/metrics.md says what each metric's HELP text says (#9 item 8).

Every HELP line of a live exposition (every built-in collector run once, plus the exporter's
own metrics) has a row in docs/metrics.md, and every significant word of the HELP's meaning
(the text before its source, ", from ...") appears in that row: a HELP text and a doc row
that describe different things (vigil_audit_gaps: "missing ids in the audit sequence" against
missing (PHI table, trigger event) pairs) fail here.
"""

from __future__ import annotations

import re
from pathlib import Path

from exporter_helpers import run

from exporter.config import BUILTIN_COLLECTORS, build_config
from exporter.scheduler import Exporter
from vigil import schema

ROOT = Path(__file__).resolve().parents[2]
MAX_UNSAID = 0.25  # share of the HELP's meaning words its docs row may word differently
# Words that carry no meaning of their own in a HELP sentence.
_STOP = {"which", "their", "there", "these", "those", "every", "about", "since", "until",
         "while", "other", "where", "after", "before", "being", "under", "would", "could"}


def _doc_rows() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in (ROOT / "docs" / "metrics.md").read_text().splitlines():
        m = re.match(r"^\| `([a-z_]+)(?:\{[^`]*\})?` \|(.*)$", line)
        if m:
            rows[m.group(1).removesuffix("_total")] = m.group(2).lower()
    return rows


def _meaning_words(help_text: str) -> set[str]:
    meaning = re.split(r",? (?:from|one observation|measured by|per row of) |; | \(|\. ",
                       help_text, maxsplit=1)[0].lower()
    return {w for w in re.findall(r"[a-z][a-z0-9_]{4,}", meaning) if w not in _STOP}


def _stem(word: str) -> str:
    return word[:-1] if word.endswith("s") else word


async def test_every_help_text_matches_its_row_in_docs_metrics(
        fresh_db: str, tmp_path: Path) -> None:
    schema.install(fresh_db)
    cfg = build_config({"targets": [{"name": "db1", "dsn": fresh_db}],
                        "state_dir": str(tmp_path), "scheduler": {"start_jitter": 0}})
    exp = Exporter(cfg)
    await exp.start(schedule=False)
    try:
        for name in BUILTIN_COLLECTORS:
            await run(exp, name)
        exp.renderer.refresh()
        text = exp.renderer.current.text.data.decode()
    finally:
        await exp.stop()
    helps = dict(re.findall(r"^# HELP (vigil_\S+) (.*)$", text, re.M))
    assert "vigil_audit_gaps" in helps
    rows = _doc_rows()
    mismatched: list[str] = []
    for name, help_text in sorted(helps.items()):
        row = rows.get(name.removesuffix("_total"))
        if row is None:
            mismatched.append(f"{name}: no row in docs/metrics.md")
            continue
        doc_words = {_stem(w) for w in re.findall(r"[a-z][a-z0-9_]+", row)}
        words = _meaning_words(help_text)
        missing = sorted(w for w in words if _stem(w) not in doc_words)
        # Wording may differ a little (a synonym, a word the table's column already says);
        # the meaning may not: most of what HELP says must be in the row.
        if words and len(missing) / len(words) > MAX_UNSAID:
            mismatched.append(f"{name}: HELP says {missing}, docs/metrics.md does not")
    assert not mismatched, "\n".join(mismatched)
