"""The alerting and recording rules, checked and unit-tested by the real promtool."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import prom, rulelint

from vigil.stack import ruleoverlay
from vigil.stack.ruleoverlay import PROMETHEUS_DIR, RULES_DIR

TESTS_DIR = PROMETHEUS_DIR / "tests"


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def test_promtool_check_rules_accepts_every_rule_file() -> None:
    result = prom.promtool("check", "rules", *map(str, rule_files()))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config_accepts_prometheus_yml_and_its_rules() -> None:
    result = prom.promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rule_files())} rule files found" in result.stdout


@pytest.mark.parametrize("test_file", sorted(TESTS_DIR.glob("*.yml")), ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    result = prom.promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_labels_annotations_and_unit_tests_both_ways() -> None:
    assert rulelint.lint_rules(RULES_DIR, TESTS_DIR) == []


def _write_rules(tmp_path: Path, rules: list[dict[str, object]]) -> tuple[Path, Path]:
    rules_dir, tests_dir = tmp_path / "rules", tmp_path / "tests"
    rules_dir.mkdir()
    tests_dir.mkdir()
    (rules_dir / "r.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}))
    return rules_dir, tests_dir


GOOD_ALERT: dict[str, object] = {
    "alert": "Good", "expr": "x > 1", "for": "1m", "labels": {"severity": "P3"},
    "annotations": {"summary": "x is {{ $value }}", "description": "d",
                    "runbook_url": "docs/runbook.md#good"},
}


def test_lint_reports_an_alert_without_severity_summary_runbook_url_or_unit_test(
        tmp_path: Path) -> None:
    bad = {"alert": "Bad", "expr": "y > 1", "labels": {"severity": "critical"},
           "annotations": {"description": "no value quoted"}}
    rules_dir, tests_dir = _write_rules(tmp_path, [GOOD_ALERT, bad])
    (tests_dir / "t.yml").write_text(yaml.safe_dump({
        "rule_files": ["../rules/r.yml"],
        "tests": [{"input_series": [], "alert_rule_test": [
            {"eval_time": "1m", "alertname": "Good", "exp_alerts": []},
            {"eval_time": "2m", "alertname": "Good", "exp_alerts": [{"exp_labels": {}}]},
        ]}],
    }))
    problems = "\n".join(rulelint.lint_rules(rules_dir, tests_dir))
    assert "alert Bad: severity label must be one of P1, P2, P3, P4 (got critical)" in problems
    assert "alert Bad: no 'for:' duration" in problems
    assert "alert Bad: no summary annotation" in problems
    assert "alert Bad: no runbook_url annotation" in problems
    assert "alert Bad: neither summary nor description quotes" in problems
    assert "alert Bad has no unit test where it fires" in problems
    assert "alert Bad has no unit test where it stays silent" in problems
    assert "Good" not in problems


def test_lint_reports_an_alert_only_tested_firing_and_an_unloaded_rule_file(
        tmp_path: Path) -> None:
    rules_dir, tests_dir = _write_rules(tmp_path, [GOOD_ALERT])
    (rules_dir / "other.yml").write_text(yaml.safe_dump({"groups": [{"name": "o", "rules": [
        {"record": "r:x", "expr": "x"}]}]}))
    (tests_dir / "t.yml").write_text(yaml.safe_dump({
        "rule_files": ["../rules/r.yml"],
        "tests": [{"input_series": [], "alert_rule_test": [
            {"eval_time": "2m", "alertname": "Good", "exp_alerts": [{"exp_labels": {}}]}]}],
    }))
    assert rulelint.lint_rules(rules_dir, tests_dir) == [
        "r.yml: alert Good has no unit test where it stays silent",
        "other.yml: no unit test file loads it (rule_files)",
    ]


def test_recording_rules_follow_the_level_metric_operations_naming() -> None:
    names = [rule["record"] for _, _, rule in ruleoverlay.iter_rules(RULES_DIR) if "record" in rule]
    assert names
    for name in names:
        assert name.count(":") >= 2, f"{name}: use level:metric:operations"
        assert name.startswith(("vigil:", "target", "severity")), name


def test_every_alert_carries_kind_for_routing_and_inhibition() -> None:
    for path, _, rule in ruleoverlay.iter_rules(RULES_DIR):
        if "alert" in rule:
            kind = rule["labels"].get("kind")
            assert kind in ("performance", "security", "health"), f"{path.name}: {rule['alert']}"


def test_a_missed_response_deadline_never_pages_the_cto_or_legal_again() -> None:
    """VigilEscalationSlaBreached is a process miss: whatever level it raises, the escalation
    matrix routes it to responders, never to the CTO or Legal (the P1 notices)."""
    import re

    from router.config import load_escalation

    rule = next(r for f in rule_files() for g in yaml.safe_load(f.read_text())["groups"]
                for r in g["rules"] if r.get("alert") == "VigilEscalationSlaBreached")
    # The levels it can produce: every P-level of the template but the quoted ones it tests.
    raised = set(re.findall(r"P[1-4]", re.sub(r'"P[1-4]"', "", rule["labels"]["severity"])))
    assert raised and "P1" not in raised, rule["labels"]["severity"]
    esc = load_escalation(PROMETHEUS_DIR.parent / "config" / "escalation.yml")
    for level in raised:
        paged = {t for step in (*esc.levels[level].steps, *esc.levels[level].notices)
                 for t in step.targets}
        assert paged.isdisjoint({"cto", "legal"}), (level, paged)
