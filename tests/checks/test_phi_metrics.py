"""`vigil phi metrics`: the runbook's phi:metrics, percentiles per table and key vs 100 ms."""

from __future__ import annotations

import json

import pytest

from vigil import cli, demo


def test_phi_metrics_pass_under_load_and_fail_with_slow_encryption(
        demo_db: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["phi", "metrics", "--dsn", demo_db.exporter_dsn]
    assert cli.main([*argv, "--window-minutes", "5"]) == 2  # nothing measured yet: not a pass
    assert "PHI query time (table): ⚠ none in the window" in capsys.readouterr().out
    demo.run_load(demo_db, duration=1.0, rate=30)
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "p95 < 100 ms" in out and "p99 ms" in out
    assert any(line.startswith("✓ public.Deal") and " read " in line for line in out.splitlines())
    assert cli.main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    deal = next(r for r in doc["rows"] if r["kind"] == "phi_query"
                and r["subject"] == "public.Deal" and r["operation"] == "read")
    assert deal["count"] > 0 and deal["p50_ms"] <= deal["p95_ms"] <= deal["p99_ms"] <= deal[
        "max_ms"] < 100 and deal["status"] == "pass"
    assert any(r["kind"] == "encryption" for r in doc["rows"])

    demo.inject(demo_db.admin_dsn, "slow-encryption")
    demo.run_load(demo_db, duration=1.5, rate=20)
    assert cli.main([*argv, "--window-minutes", "1"]) == 1
    out = capsys.readouterr().out
    assert "✗ k-slow-" in out and "docs/runbook.md#encryption-performance" in out
    assert cli.main([*argv, "--json", "--window-minutes", "1"]) == 1
    doc = json.loads(capsys.readouterr().out)
    failed = [r for r in doc["rows"] if r["status"] == "fail"]
    assert any(r["kind"] == "encryption" and r["subject"].startswith("k-slow-") for r in failed)
    assert any(r["kind"] == "phi_query" and r["guide"] == "docs/runbook.md#phi-performance"
               for r in failed)
    demo.heal(demo_db.admin_dsn)


@pytest.mark.parametrize("window", ["0", "-5"])
def test_phi_metrics_refuses_a_window_that_is_not_positive(window: str) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["phi", "metrics", "--window-minutes", window])
    assert exc.value.code == 2
