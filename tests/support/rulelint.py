"""The rule lint: what every alerting rule and its unit tests must have (tests/rules)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from vigil.stack.ruleoverlay import PROMETHEUS_DIR, RULES_DIR, iter_rules, load_rule_files

SEVERITIES = ("P1", "P2", "P3", "P4")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")
_TEMPLATE = re.compile(r"\{\{.*\}\}", re.S)


def _test_files(tests_dir: Path) -> list[Path]:
    return sorted([*tests_dir.glob("*.yml"), *tests_dir.glob("*.yaml")])


def lint_rules(rules_dir: Path | str = RULES_DIR,
               tests_dir: Path | str = PROMETHEUS_DIR / "tests") -> list[str]:
    """Problems with the alerting rules and their unit tests, one sentence each.

    Every alert must have: a ``severity`` label P1..P4 (or a template, whose values the unit
    tests then pin down), a ``for:``, ``summary``/``description``/``runbook_url``
    annotations, a summary or description that quotes ``$value``, and unit tests in
    ``tests_dir`` both expecting it to fire and expecting it silent. Every rule file must be
    loaded by some unit test file. An empty list means all is well.
    """
    rules_path, tests_path = Path(rules_dir).resolve(), Path(tests_dir).resolve()
    problems: list[str] = []
    alerts_by_name: dict[str, Path] = {}
    for path, group, rule in iter_rules(rules_path):
        name = rule.get("alert")
        if not name:
            continue
        where = f"{path.name}: group {group}: alert {name}"
        if name in alerts_by_name:
            problems.append(f"{where}: alert name also used in {alerts_by_name[name].name}")
        alerts_by_name[name] = path
        labels = rule.get("labels") or {}
        annotations = rule.get("annotations") or {}
        severity = str(labels.get("severity", ""))
        if severity not in SEVERITIES and not _TEMPLATE.search(severity):
            problems.append(f"{where}: severity label must be one of {', '.join(SEVERITIES)} "
                            f"(got {severity or 'none'})")
        if "for" not in rule:
            problems.append(f"{where}: no 'for:' duration")
        for key in REQUIRED_ANNOTATIONS:
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{where}: no {key} annotation")
        text = f"{annotations.get('summary', '')} {annotations.get('description', '')}"
        if "$value" not in text:
            problems.append(f"{where}: neither summary nor description quotes {{{{ $value }}}}")
        url = str(annotations.get("runbook_url", ""))
        if url and "#" not in url:
            problems.append(f"{where}: runbook_url {url!r} has no #section anchor")

    fires: set[str] = set()
    silent: set[str] = set()
    loaded: set[Path] = set()
    files = _test_files(tests_path)
    if not files:
        problems.append(f"no unit test files (*.yml) in {tests_path}")
    for tfile in files:
        doc = yaml.safe_load(tfile.read_text()) or {}
        for rf in doc.get("rule_files") or []:
            loaded.add((tfile.parent / rf).resolve())
        for case in doc.get("tests") or []:
            for art in case.get("alert_rule_test") or []:
                name = art.get("alertname")
                if name not in alerts_by_name:
                    problems.append(f"{tfile.name}: tests unknown alert {name}")
                (fires if art.get("exp_alerts") else silent).add(name)
    for name, path in sorted(alerts_by_name.items()):
        if name not in fires:
            problems.append(f"{path.name}: alert {name} has no unit test where it fires")
        if name not in silent:
            problems.append(f"{path.name}: alert {name} has no unit test where it stays silent")
    for path in sorted({p.resolve() for p in load_rule_files(rules_path)}):
        if path not in loaded:
            problems.append(f"{path.name}: no unit test file loads it (rule_files)")
    return problems


def runbook_anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of every heading in a Markdown text."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_fence = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if in_fence or not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors
