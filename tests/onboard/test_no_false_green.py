"""No data is its own state: ⚠ and exit code 2, never ✓ (#9 item 5)."""

from __future__ import annotations

import pytest
from pghelpers import one

from vigil import cli, schema


def test_a_fresh_install_is_no_data_not_green(
        fresh_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    schema.install(fresh_db, exporter_role=None, sealer_role=None, maintainer_role=None)
    # Nothing registered: coverage is unknown, not 1.0.
    assert one(fresh_db, "SELECT coverage_ratio, phi_tables FROM "
               "vigil_monitor.security_audit_metrics()") == (None, 0)
    capsys.readouterr()
    assert cli.main(["check", "health", "--dsn", fresh_db]) == 2
    out = capsys.readouterr().out
    assert "✓" not in out and out.count("⚠") == 3, out
    assert "no RLS table measured" in out and "p95 of 0 queries" in out
    assert cli.main(["check", "verify", "--dsn", fresh_db]) == 2
    out = capsys.readouterr().out
    # chain, coverage, isolation and controls (012): each no data, none ✓
    assert "✓" not in out and out.count("⚠") == 4, out
    assert "no PHI column registered" in out and "0 sealed audit rows" in out
