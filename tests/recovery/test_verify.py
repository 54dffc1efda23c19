"""`vigil recovery verify`: the System Recovery Checklist passes on a healthy demo and fails
naming the item when a real fault is in."""

from __future__ import annotations

import json

import pytest
from pghelpers import query

from vigil import cli, demo
from vigil.audit.demo import seal_for_demo

ITEMS = ["System integrity", "Data consistency", "Tenant isolation", "Audit completeness",
         "Security controls", "Performance"]


def _verify(capsys: pytest.CaptureFixture[str], info: demo.DemoInfo, *extra: str
            ) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["recovery", "verify", "--dsn", info.admin_dsn, *extra])
    return code, capsys.readouterr().out


def test_a_healthy_demo_passes_every_item(
        healthy_demo: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _verify(capsys, healthy_demo)
    assert code == 0, out
    assert [ln for ln in out.splitlines() if not ln.startswith(" ")] == [
        f"✓ {i}" for i in ITEMS], out
    assert "✗" not in out and "⚠" not in out
    code, out = _verify(capsys, healthy_demo, "--json")
    doc = json.loads(out)
    assert code == 0 and [d["item"] for d in doc] == ITEMS
    assert {d["status"] for d in doc} == {"pass"}
    perf = {c["name"]: c for c in doc[-1]["checks"]}
    assert set(perf) == {"RLS Overhead", "PHI Query Time", "Audit Write Time", "Encryption Time"}
    assert perf["Encryption Time"]["threshold"] == 100.0


@pytest.mark.parametrize(("fault", "item", "check"), [
    ("rls-disabled", "Tenant isolation", "Active isolation tests"),
    ("audit-tamper", "System integrity", "Audit chain"),
    ("audit-trigger-disabled", "Audit completeness", "Audit coverage"),
    ("policy-dropped", "Security controls", "Controls"),
    ("slow-rls", "Performance", "RLS Overhead"),
])
def test_a_fault_fails_the_checklist_naming_the_item(
        healthy_demo: demo.DemoInfo, capsys: pytest.CaptureFixture[str],
        fault: str, item: str, check: str) -> None:
    demo.inject(healthy_demo.admin_dsn, fault)
    try:
        code, out = _verify(capsys, healthy_demo)
    finally:
        demo.heal(healthy_demo.admin_dsn)
    assert code == 1
    assert f"✗ {item}\n" in out and f"    ✗ {check}: " in out, out
    assert out.splitlines()[-1].startswith("failed: ") and item in out.splitlines()[-1]


def test_a_dropped_audit_protection_trigger_fails_security_controls(
        healthy_demo: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    dsn = healthy_demo.admin_dsn
    query(dsn, "DROP TRIGGER audit_log_no_update_delete ON vigil_monitor.audit_log")
    try:
        code, out = _verify(capsys, healthy_demo)
    finally:
        query(dsn, "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON "
                   "vigil_monitor.audit_log FOR EACH ROW "
                   "EXECUTE FUNCTION vigil_monitor.block_audit_change()")
    assert code == 1
    line = next(ln for ln in out.splitlines() if "✗ Security test" in ln)
    assert "Audit log is append-only" in line and "UPDATE succeeded" in line


def test_failed_encryption_operations_fail_data_consistency(
        demo_db: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    # Its own demo: the failure stays in the window, which the shared one must not see.
    demo.run_load(demo_db, duration=0.5, rate=30)
    seal_for_demo(demo_db.admin_dsn)
    # A real failed decrypt (a corrupt ciphertext), recorded by the demo's decrypt_phi().
    query(demo_db.admin_dsn, "SELECT decrypt_phi('\\x00'::bytea, key_id) "
          "FROM vigil_monitor.encryption_keys WHERE active")
    code, out = _verify(capsys, demo_db)
    assert code == 1 and "✗ Data consistency\n" in out
    assert "    ✗ Encryption failures: 1 of " in out
    assert out.splitlines()[-1] == "failed: Data consistency"


@pytest.mark.parametrize("argv", [["--window-minutes", "-5"], ["--window-minutes", "x"]])
def test_bad_flags_are_usage_errors_naming_the_flag(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["recovery", "verify", *argv])
    assert exc.value.code == 2 and "--window-minutes" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["recovery", "report", "--incident", "0"])
    assert exc.value.code == 2 and "--incident" in capsys.readouterr().err
