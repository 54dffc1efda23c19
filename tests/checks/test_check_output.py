"""`vigil check` for people and scripts: ✗ names the runbook section, --json, exit codes."""

from __future__ import annotations

import json

import pytest

from vigil import cli, demo
from vigil.audit.demo import seal_for_demo


def test_security_fails_on_a_broken_chain_with_units_and_its_guide(
        demo_db: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    demo.run_load(demo_db, duration=0.5, rate=30)
    assert seal_for_demo(demo_db.admin_dsn) > 0
    assert cli.main(["check", "security", "--dsn", demo_db.exporter_dsn]) == 0
    capsys.readouterr()
    demo.inject(demo_db.admin_dsn, "audit-tamper")
    assert cli.main(["check", "security", "--dsn", demo_db.exporter_dsn]) == 1
    out = capsys.readouterr().out
    assert "None" not in out
    assert "✗ audit.integrityIssues" in out and "docs/runbook.md#audit-integrity" in out
    key_age = next(line for line in out.splitlines() if "encryption.keyAge" in line)
    assert "s (oldest active key)" in key_age  # a duration with its unit, not 577.88
    assert cli.main(["check", "security", "--dsn", demo_db.exporter_dsn, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "fail" and doc["audit"]["integrityIssues"] >= 1
    units = {m["metric"]: m["unit"] for m in doc["metrics"]}
    assert units["encryption.keyAge"] == "seconds" and all(units.values())
    failed = [m["metric"] for m in doc["metrics"] if m["status"] == "fail"]
    assert "audit.integrityIssues" in failed


def test_health_fail_lines_point_to_the_action_item_guide_and_json_says_the_same(
        demo_db: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    demo.run_load(demo_db, duration=0.5, rate=30)
    argv = ["check", "health", "--dsn", demo_db.exporter_dsn, "--budget-ms", "300",
            "--audit-ms", "0.0001"]
    assert cli.main(argv) == 1
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("✗ Audit Write Time"))
    assert "docs/runbook.md#audit-performance" in lines[at + 1]
    assert not any("→" in line for line in lines[:at])  # ✓ lines carry no pointer
    assert cli.main([*argv, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    by_name = {c["name"]: c for c in doc["checks"]}
    assert doc["status"] == "fail" and doc["exit_code"] == 1
    assert by_name["Audit Write Time"]["status"] == "fail"
    assert by_name["Audit Write Time"]["guide"] == "docs/runbook.md#audit-performance"
    assert by_name["RLS Overhead"]["status"] == "pass" and by_name["RLS Overhead"]["unit"] == "ms"


def test_verify_json_reports_no_data_with_exit_2(
        demo_db: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "verify", "--dsn", demo_db.admin_dsn, "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "no_data"
    assert {c["name"]: c["status"] for c in doc["checks"]}["Audit chain"] == "no_data"
