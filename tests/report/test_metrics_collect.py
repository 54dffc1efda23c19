"""`vigil metrics collect` runs every collector once against a real demo database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil import cli, demo

pytestmark = pytest.mark.timeout(300)


def _config(tmp_path: Path, dsn: str) -> Path:
    path = tmp_path / "exporter.yml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\ntargets:\n  - name: demo\n"
                    f"    dsn: {json.dumps(dsn)}\n")
    return path


def test_collect_runs_every_collector_and_prints_what_it_stored(
        demo_db: demo.DemoInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, demo_db.exporter_dsn)
    code = cli.main(["metrics", "collect", "--config", str(config), "--json"])
    runs = {r["collector"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"ping", "security", "rls", "indexes"} <= set(runs)
    failed = {n: r["reason"] for n, r in runs.items() if not r["ok"]}
    assert code == (1 if failed else 0), failed
    assert runs["security"]["ok"], runs["security"]
    assert runs["security"]["samples"]["vigil_access_requests_total"] == 1
    assert runs["security"]["samples"]["vigil_encryption_key_age_seconds"] >= 1


def test_collect_names_the_failing_collector(
        fresh_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a database without the monitoring schema: every schema collector fails, ping succeeds
    config = _config(tmp_path, fresh_db)
    assert cli.main(["metrics", "collect", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "security" in out and "FAILED (missing_object)" in out
    assert any(line.startswith("ping") and " ok " in line for line in out.splitlines())
