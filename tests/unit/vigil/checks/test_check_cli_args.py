"""`vigil check` arguments and where its ✗ lines send a responder, without a database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import rulelint

from vigil import cli
from vigil.checks.result import GUIDES, RUNBOOK, CheckResult
from vigil.checks.security import judge
from vigil.core import pg

REPO = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize("argv", [
    ["check", "health", "--window-minutes", "-5"],
    ["check", "health", "--window-minutes", "0"],
    ["check", "health", "--window-minutes", "nan"],
    ["check", "health", "--samples", "0"],
    ["check", "security", "--key-max-age-days", "-1"],
])
def test_a_window_or_threshold_that_is_not_positive_is_a_usage_error(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "must be" in capsys.readouterr().err


def _security_metrics(**audit: object) -> dict[str, dict[str, object]]:
    return {"accessPatterns": {"totalRequests": 10, "failedAttempts": 1, "unusualPatterns": 0},
            "encryption": {"keyAge": 577.88, "failedOperations": 0,
                           "reEncryptionStatus": "idle", "reEncryptionProgress": 0.0},
            "audit": {"coverage": 1.0, "gaps": 0, "integrityIssues": 0, "firstBrokenId": None,
                      **audit}}


def test_every_guide_a_check_names_is_a_section_of_the_runbook() -> None:
    anchors = rulelint.runbook_anchors((REPO / RUNBOOK).read_text())
    guides = [CheckResult(name, False, None, None).guide for name in GUIDES]
    guides += [m.guide for m in judge(_security_metrics(), key_max_age_days=90)]
    for guide in guides:
        path, _, anchor = guide.partition("#")
        assert path == RUNBOOK and anchor in anchors, guide


def test_security_rows_have_units_and_no_python_none() -> None:
    rows = judge(_security_metrics(integrityIssues=1, firstBrokenId=7), key_max_age_days=90)
    by_key = {m.key: m for m in rows}
    assert by_key["encryption.keyAge"].shown.startswith("9m38s") and by_key[
        "encryption.keyAge"].unit == "seconds"
    assert by_key["audit.integrityIssues"].issue == "audit hash chain broken"
    assert all(m.unit and "None" not in m.shown for m in rows)
    clean = judge(_security_metrics(), key_max_age_days=90)
    assert not any(m.issue for m in clean)
    assert {m.key: m.shown for m in clean}["audit.firstBrokenId"] == "-"
    old = judge(_security_metrics(), key_max_age_days=0.001)
    assert {m.key: m.issue for m in old}["encryption.keyAge"]


def test_db_commands_default_to_the_database_vigil_check_reads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from vigil.maintain.cli import maintain_dsn
    from vigil.schema import controls, onboard_cli
    from vigil.schema.cli import db_dsn

    monkeypatch.setenv("VIGIL_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    monkeypatch.delenv("VIGIL_MAINTAIN_DSN", raising=False)
    args = argparse.Namespace(dsn=None)
    for dsn in (db_dsn(args), controls._dsn(args), onboard_cli._dsn(args),
                maintain_dsn(None, "vigil_maintainer")):
        assert pg.dbname_of(dsn) == pg.DEFAULT_DEMO_DB
    parser = cli.build_parser()
    for argv in (["db", "status"], ["db", "install"], ["db", "baseline", "show"],
                 ["db", "probe", "set", "--tenant", "t"]):
        assert pg.dbname_of(db_dsn(parser.parse_args(argv))) == pg.DEFAULT_DEMO_DB


def test_a_closed_stdout_ends_the_command_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (head) is gone before vigil writes a byte
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "vigil.cli", "db", "grants", "--print"], stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=60, check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 141
