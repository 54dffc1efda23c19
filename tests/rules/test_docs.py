"""docs/runbook.md and docs/alerts.md agree with the rules."""

from __future__ import annotations

import re
from pathlib import Path

from support import rulelint

from vigil.stack import ruleoverlay
from vigil.stack.ruleoverlay import RULES_DIR

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _alerts() -> dict[str, dict[str, object]]:
    return {r["alert"]: r for _, _, r in ruleoverlay.iter_rules(RULES_DIR) if "alert" in r}


def test_every_runbook_url_points_at_a_section_of_docs_runbook() -> None:
    anchors = rulelint.runbook_anchors((DOCS / "runbook.md").read_text())
    for name, rule in _alerts().items():
        url = str(rule["annotations"]["runbook_url"])  # type: ignore[index]
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md", f"{name}: {url}"
        assert anchor in anchors, f"{name}: no section #{anchor} in docs/runbook.md"


def test_runbook_keeps_the_original_sections() -> None:
    anchors = rulelint.runbook_anchors((DOCS / "runbook.md").read_text())
    for section in ("performance-monitoring", "daily-health-check", "query-performance-analysis",
                    "security-metrics-collection", "key-metrics-dashboard",
                    "collection-procedures", "alert-handling", "alert-levels",
                    "alert-response-procedure", "incident-response",
                    "security-incident-procedure", "escalation-procedures",
                    "troubleshooting-guides", "rls-optimization", "phi-performance",
                    "audit-performance", "recovery-procedures", "system-recovery-checklist",
                    "recovery-commands", "related-documentation"):
        assert section in anchors, section


def test_runbook_has_no_npm_left() -> None:
    assert "npm run" not in (DOCS / "runbook.md").read_text()


def test_alerts_md_lists_every_alert_with_its_severity() -> None:
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r"^\| (Vigil\w+) \| ([^|]+?) \|", (DOCS / "alerts.md").read_text(), re.M)}
    alerts = _alerts()
    assert set(rows) == set(alerts)
    for name, rule in alerts.items():
        severity = str(rule["labels"]["severity"])  # type: ignore[index]
        if severity in rulelint.SEVERITIES:
            assert rows[name] == severity, name


def test_anchor_slugs_follow_github() -> None:
    assert rulelint.runbook_anchors("# A b\n## Re-encryption Stalled\n```\n# not\n```\n# A b") \
        == {"a-b", "re-encryption-stalled", "a-b-1"}
