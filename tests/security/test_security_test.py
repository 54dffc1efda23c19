"""`vigil security test` against the real PostgreSQL: a healthy demo passes every control it
examines; each broken control fails, named; nothing it does is left behind."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from pghelpers import one, query

from vigil import cli, demo

CONTACT = 'public."Contact"'


def vigil(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def _marks(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    return {m: [ln for ln in lines if ln.startswith(m)] for m in ("✓", "✗", "⚠")}


def _footprint(dsn: str) -> tuple[object, ...]:
    """Rows the application or the audit could see, policies and counters: what a test must
    not leave in its database (its throwaway roles, server-wide, are checked by name: another
    test's run may hold some of its own at the same moment)."""
    return one(dsn, 'SELECT (SELECT count(*) FROM "Deal"), (SELECT count(*) FROM "Contact"), '
               "(SELECT count(*) FROM tenants), (SELECT count(*) FROM vigil_monitor.audit_buffer), "
               "(SELECT count(*) FROM vigil_monitor.audit_log), "
               "(SELECT count(*) FROM vigil_monitor.audit_tamper_log), "
               "(SELECT count(*) FROM pg_policy), "
               # refused-writes counters (schema 020): the throwaway actor's is dropped
               "(SELECT count(*) FROM pg_class WHERE relkind = 'S' "
               "AND relname LIKE 'refused_writes%')")


def test_healthy_demo_passes_every_control_it_examines_and_leaves_nothing(
        shared_demo: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    before = _footprint(shared_demo.admin_dsn)
    code, out = vigil(capsys, "security", "test", "--dsn", shared_demo.admin_dsn)
    marks = _marks(out)
    assert marks["✗"] == [], out
    assert code == 0 and marks["⚠"] == [], out
    for kind in ("role", "actor", "tenant"):
        assert any(f"Containment blocks what it claims [{kind} " in ln
                   for ln in marks["✓"]), out
    for table in ('public."Deal"', CONTACT, "public.tenants"):
        for control in ("other tenants' rows invisible", "other tenants' rows unwritable",
                        "unset tenant sees nothing"):
            assert any(control in ln and f"vigil_demo_app on {table}" in ln
                       for ln in marks["✓"]), (table, control, out)
    for verb in ("UPDATE", "DELETE", "TRUNCATE"):
        assert any(f"Audit log is append-only [vigil_monitor.audit_log]: tried {verb}" in ln
                   for ln in marks["✓"]), out
    assert any("Monitoring role cannot read PHI [vigil_exporter]" in ln for ln in marks["✓"])
    assert any("No application role bypasses RLS [vigil_demo_app]" in ln for ln in marks["✓"])
    assert _footprint(shared_demo.admin_dsn) == before
    throwaways = sorted(set(re.findall(r"vigil_sectest_[0-9a-f]+", out)))
    assert throwaways, out
    assert query(shared_demo.admin_dsn, "SELECT rolname FROM pg_roles WHERE rolname = "
                 "ANY (%s)", (throwaways,)) == []
    code, out = vigil(capsys, "security", "test", "--dsn", shared_demo.admin_dsn, "--json")
    doc = json.loads(out)
    assert {d["outcome"] for d in doc} <= {"pass", "not examined"}
    assert all(d["tried"] for d in doc)


def test_a_policy_changed_to_using_true_fails_naming_the_control(
        shared_demo: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    dsn = shared_demo.admin_dsn
    using = one(dsn, "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polname = "
                "'tenant_isolation' AND polrelid = 'public.\"Contact\"'::regclass")[0]
    query(dsn, 'ALTER POLICY tenant_isolation ON "Contact" USING (true)')
    try:
        code, out = vigil(capsys, "security", "test", "--dsn", dsn)
    finally:
        query(dsn, f'ALTER POLICY tenant_isolation ON "Contact" USING ({using})')
    assert code == 1
    failed = _marks(out)["✗"]
    assert any("Tenant isolation: other tenants' rows invisible [vigil_demo_app on "
               'public."Contact"]' in ln and "a row of another tenant was returned" in ln
               for ln in failed), out
    assert any("unset tenant sees nothing" in ln and CONTACT in ln for ln in failed), out
    # DELETE reads USING only: another tenant's rows reached it (stopped before any write).
    assert any("rows unwritable" in ln and CONTACT in ln and "reached the DELETE" in ln
               for ln in failed), out
    assert not any('"Deal"' in ln for ln in failed)


def test_rls_disabled_on_a_table_is_still_tested_and_fails(
        shared_demo: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    demo.inject(shared_demo.admin_dsn, "rls-disabled")
    try:
        code, out = vigil(capsys, "security", "test", "--dsn", shared_demo.admin_dsn)
    finally:
        demo.heal(shared_demo.admin_dsn, "rls-disabled")
    assert code == 1
    assert any("other tenants' rows invisible" in ln and CONTACT in ln
               for ln in _marks(out)["✗"]), out


@pytest.fixture
def extra_app_role(shared_demo: demo.DemoInfo) -> Iterator[str]:
    """A second application role of this database only (roles are cluster-wide: the demo's
    own role is shared by every test running in parallel)."""
    role = f"sec_app_{uuid.uuid4().hex[:8]}"
    query(shared_demo.admin_dsn, f"CREATE ROLE {role} LOGIN NOBYPASSRLS")
    try:
        query(shared_demo.admin_dsn,
              f'GRANT SELECT, INSERT, UPDATE, DELETE ON "Deal", "Contact", tenants TO {role}')
        yield role
    finally:
        query(shared_demo.admin_dsn, f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_an_application_role_with_bypassrls_fails_naming_the_control(
        shared_demo: demo.DemoInfo, extra_app_role: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out = vigil(capsys, "security", "test", "--dsn", shared_demo.admin_dsn)
    assert code != 1 and f"No application role bypasses RLS [{extra_app_role}]" in out, out
    query(shared_demo.admin_dsn, f"ALTER ROLE {extra_app_role} BYPASSRLS")
    code, out = vigil(capsys, "security", "test", "--dsn", shared_demo.admin_dsn)
    assert code == 1
    failed = _marks(out)["✗"]
    assert any(f"No application role bypasses RLS [{extra_app_role}]" in ln
               and "BYPASSRLS" in ln for ln in failed), out
    assert any(f"rows invisible [{extra_app_role} on" in ln for ln in failed), out


def test_a_dropped_audit_protection_trigger_fails_naming_the_control(
        shared_demo: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    dsn = shared_demo.admin_dsn
    query(dsn, "DROP TRIGGER audit_log_no_update_delete ON vigil_monitor.audit_log")
    try:
        code, out = vigil(capsys, "security", "test", "--dsn", dsn)
    finally:
        query(dsn, "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON "
                   "vigil_monitor.audit_log FOR EACH ROW "
                   "EXECUTE FUNCTION vigil_monitor.block_audit_change()")
    assert code == 1
    failed = _marks(out)["✗"]
    for verb in ("UPDATE", "DELETE"):
        assert any(f"Audit log is append-only [vigil_monitor.audit_log]: tried {verb}" in ln
                   and "succeeded" in ln for ln in failed), out
    assert not any("TRUNCATE" in ln for ln in failed)  # its own trigger is still there
    assert one(dsn, "SELECT count(*) FROM vigil_monitor.audit_log")[0] == 0
    assert one(dsn, "SELECT count(*) FROM vigil_monitor.audit_tamper_log")[0] == 0


def test_an_unknown_app_role_is_a_usage_error(
        shared_demo: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["security", "test", "--dsn", shared_demo.admin_dsn,
                     "--app-role", "no_such_role_x"])
    assert code == 2 and "--app-role" in capsys.readouterr().err


def test_a_login_that_is_not_a_superuser_is_refused_not_passed(
        shared_demo: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    # Its own privileges would refuse the audit-log writes: that would prove nothing.
    for argv in (["security", "test"], ["recovery", "verify"]):
        assert cli.main([*argv, "--dsn", shared_demo.exporter_dsn]) == 2
        captured = capsys.readouterr()
        assert "✓" not in captured.out
        assert "--dsn" in captured.err and "superuser" in captured.err
