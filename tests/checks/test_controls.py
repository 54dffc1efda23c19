"""Issue #9 point 7: a change of the controls themselves (RLS, FORCE, a policy, the audit
trigger, writes behind the audit trigger's back) makes `vigil check verify` fail, naming the
table, and shows in vigil_monitor.control_status(); approving the baseline accepts it."""

from __future__ import annotations

import argparse

import psycopg
import pytest
from pghelpers import one, query, wait_for

from vigil import checks, demo
from vigil.checks import cli as checks_cli
from vigil.checks.runbook import CheckResult
from vigil.schema import cli as schema_cli
from vigil.schema import controls

# fault -> (table it changes, words `check verify` must print for it)
CONTROL_FAULTS: dict[str, tuple[str, str]] = {
    "rls-disabled": ("public.Contact", "row level security disabled"),
    "policy-dropped": ("public.Deal", "policy tenant_isolation dropped"),
    "audit-trigger-disabled": ("public.Deal", "audit trigger disabled"),
    "unaudited-writes": ("public.Contact", "writes without an audit row"),
}


def _run(argv: list[str], register: object = checks_cli.register) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))  # type: ignore[operator]
    args = parser.parse_args(argv)
    return int(args.func(args))


def _controls(dsn: str) -> CheckResult:
    return next(r for r in checks.verify(dsn) if r.name == "Controls")


@pytest.mark.parametrize("fault", list(CONTROL_FAULTS))
def test_each_control_fault_fails_check_verify_naming_the_table_and_heal_clears_it(
        demo_db: demo.DemoInfo, fault: str, capsys: pytest.CaptureFixture[str]) -> None:
    demo.run_load(demo_db, duration=0.5, rate=30)
    before = _controls(demo_db.admin_dsn)
    assert before.ok, before.detail
    assert "3 monitored tables examined, as approved" in before.detail
    table, words = CONTROL_FAULTS[fault]
    demo.inject(demo_db.admin_dsn, fault)
    if fault == "audit-trigger-disabled":  # the trigger alone; writes follow with the load
        demo.run_load(demo_db, duration=0.5, rate=30)
    # Statistics reach pg_stat_user_tables when the writer's backend flushes them (~1 s).
    failed = wait_for(lambda: _controls(demo_db.admin_dsn), lambda r: not r.ok, timeout=15)
    assert f"{table}: " in failed.detail and words in failed.detail, failed.detail
    capsys.readouterr()
    assert _run(["check", "verify", "--dsn", demo_db.admin_dsn]) == 1
    assert "✗ Controls" in capsys.readouterr().out
    assert demo.heal(demo_db.admin_dsn, fault) == [fault]
    healed = _controls(demo_db.admin_dsn)
    assert healed.ok, healed.detail


def test_control_status_is_readable_by_the_exporter_role(demo_db: demo.DemoInfo) -> None:
    rows = query(demo_db.exporter_dsn, "SELECT table_name, phi, rls_enabled, "
                 "audit_trigger_enabled, unaudited_writes FROM vigil_monitor.control_status() "
                 "ORDER BY 1")
    assert rows == [("Contact", True, True, True, 0), ("Deal", True, True, True, 0),
                    ("tenants", False, True, None, None)]


def test_force_removed_changed_policy_and_added_permissive_policy_are_changes_restrictive_not(
        demo_db: demo.DemoInfo) -> None:
    admin = demo_db.admin_dsn
    query(admin, 'ALTER TABLE "Contact" FORCE ROW LEVEL SECURITY')
    assert controls.approve(admin) == 3
    query(admin, 'ALTER TABLE "Contact" NO FORCE ROW LEVEL SECURITY')
    query(admin, "ALTER POLICY tenant_isolation ON \"Deal\" USING (true)")
    query(admin, 'CREATE POLICY narrower ON "tenants" AS RESTRICTIVE USING (true)')
    states = {s.name: s for s in controls.status(admin)}
    assert states["public.Contact"].force_removed and states["public.Contact"].rls_enabled
    assert states["public.Deal"].policy_issues == ("changed:tenant_isolation",)
    assert states["public.tenants"].problems() == []
    query(admin, 'CREATE POLICY wider ON "tenants" USING (true)')
    assert controls.status(admin)[2].policy_issues == ("added:wider",)
    assert _run(["db", "baseline", "show", "--dsn", admin], schema_cli.register) == 1
    assert _run(["db", "baseline", "approve", "--dsn", admin], schema_cli.register) == 0
    assert _run(["db", "baseline", "show", "--dsn", admin], schema_cli.register) == 0


def test_unaudited_writes_are_the_same_folded_or_not_and_approve_restarts_them(
        demo_db: demo.DemoInfo) -> None:
    admin = demo_db.admin_dsn
    demo.run_load(demo_db, duration=0.5, rate=30)
    demo.inject(admin, "unaudited-writes")
    demo.run_load(demo_db, duration=0.5, rate=30)  # audited writes on top change nothing

    def unaudited() -> int:
        return int(one(admin, "SELECT unaudited_writes FROM vigil_monitor.control_status() "
                   "WHERE table_name = 'Contact'")[0])

    seen = wait_for(unaudited, lambda n: n >= 150, timeout=15)
    folded = one(admin, "SELECT vigil_monitor.controls_fold(100000)")[0]
    assert folded > 0  # the maintainer's fold moves the tail into the counters...
    assert unaudited() == seen  # ...and the answer stays the same
    assert one(admin, "SELECT vigil_monitor.controls_fold(100000)")[0] == 0
    controls.approve(admin)
    assert unaudited() == 0


def test_control_status_reads_the_unfolded_tail_by_index_never_the_history(
        demo_db: demo.DemoInfo) -> None:
    admin = demo_db.admin_dsn
    # 100,000 rows of audit history for Deal, then the maintainer's fold catches up.
    query(admin, "INSERT INTO vigil_monitor.audit_write_metrics (duration, table_name, "
          "operation, schema_name, relname) SELECT '1 ms', 'public.\"Deal\"', 'UPDATE', "
          "'public', 'Deal' FROM generate_series(1, 100000)")

    def tail() -> int:
        one(admin, "SELECT vigil_monitor.controls_fold(50000)")
        return int(one(admin, "SELECT coalesce(sum(audited), 0) "
                       "FROM vigil_monitor.control_audit_tail()")[0])

    wait_for(tail, lambda n: n == 0, timeout=60)
    query(admin, "ANALYZE vigil_monitor.audit_write_metrics")

    with psycopg.connect(admin) as conn:  # one transaction: pg_stat_xact_* shows its reads
        conn.execute("SELECT * FROM vigil_monitor.control_status()").fetchall()
        seq, fetched = conn.execute(
            "SELECT seq_scan, coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
            "WHERE relid = 'vigil_monitor.audit_write_metrics'::regclass").fetchone() or (0, 0)
    assert seq == 0 and fetched < 100, (seq, fetched)
