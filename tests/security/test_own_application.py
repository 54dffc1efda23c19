"""`vigil security test` on an application unlike the demo: schema ``ward``, integer tenants
in ``clinic_no``, a policy scoped TO its own role, a plaintext PHI column holding a canary
that must appear in no output."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from pghelpers import query
from support.ownapp import own_application

from vigil import cli

CANARY = f"CANARY-SSN-{uuid.uuid4().hex[:12]}"

APP_SQL = """
CREATE SCHEMA ward;
CREATE TABLE ward.patients (
    patient_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clinic_no integer NOT NULL, ssn text NOT NULL, note text);
ALTER TABLE ward.patients ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_clinic ON ward.patients TO {app}
    USING (clinic_no = nullif(current_setting('app.current_tenant_id', true), '')::integer)
    WITH CHECK (clinic_no = nullif(current_setting('app.current_tenant_id', true), '')::integer);
GRANT USAGE ON SCHEMA ward TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON ward.patients TO {app};
INSERT INTO ward.patients (clinic_no, ssn)
    SELECT 1 + g % 2, 'SSN-' || g FROM generate_series(1, 50) g;
INSERT INTO ward.patients (clinic_no, ssn) VALUES (7, '{canary}'), (8, '{canary}');
"""


@dataclass(frozen=True)
class Ward:
    admin: str
    app_role: str
    monitor_role: str


@pytest.fixture
def ward(make_database: Callable[[str], str], admin_dsn: str) -> Iterator[Ward]:
    with own_application(make_database, admin_dsn, "ward", APP_SQL,
                         canary=CANARY) as (dsn, app_role, monitor_role):
        for step in (["db", "install", "--exporter-role", monitor_role],
                     ["db", "grants", "--app-role", app_role],
                     ["db", "phi", "add", "ward.patients", "ssn"],
                     ["db", "tenant-column", "ward.patients", "clinic_no"],
                     ["db", "audit", "enable", "ward.patients", "--pk", "patient_id"],
                     ["db", "probe", "set", "--tenant", "7"]):
            assert cli.main([*step, "--dsn", dsn]) == 0, step
        yield Ward(dsn, app_role, monitor_role)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    assert CANARY not in captured.out + captured.err  # no PHI value, ever
    return code, captured.out


def test_security_test_on_an_application_unlike_the_demo(
        ward: Ward, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "security", "test", "--dsn", ward.admin)
    lines = out.splitlines()
    assert not [ln for ln in lines if ln.startswith("✗")], out
    subject = f"[{ward.app_role} on ward.patients]"
    for control in ("rows invisible", "rows unwritable", "unset tenant sees nothing"):
        assert any(ln.startswith("✓") and control in ln and subject in ln for ln in lines), out
    # integer tenants, the probe tenant first: 7 against another clinic's rows
    assert "session tenant set to 7" in out
    assert any(ln.startswith("✓") and f"[{ward.monitor_role}]" in ln for ln in lines), out
    _, js = _run(capsys, "security", "test", "--dsn", ward.admin, "--json")
    assert ward.app_role in js
    assert code == 0 and "⚠" not in out, out
    assert any(ln.startswith("✓ Containment blocks what it claims [tenant ") and
               "on ward.patients" in ln for ln in lines), out
    # The recovery checklist reuses these tests on the same app: no PHI value either.
    code, out = _run(capsys, "recovery", "verify", "--dsn", ward.admin)
    assert "✓ Tenant isolation" in out and code in {1, 2}, out

    # The monitoring role granted the PHI column, the table handed to the application role
    # without FORCE, the policy opened: each fails, named.
    query(ward.admin, f"GRANT USAGE ON SCHEMA ward TO {ward.monitor_role}; "
                      f"GRANT SELECT (ssn) ON ward.patients TO {ward.monitor_role}")
    query(ward.admin, f"ALTER TABLE ward.patients OWNER TO {ward.app_role}")
    query(ward.admin, "ALTER POLICY by_clinic ON ward.patients USING (true)")
    code, out = _run(capsys, "security", "test", "--dsn", ward.admin)
    failed = [ln for ln in out.splitlines() if ln.startswith("✗")]
    assert code == 1
    assert any(f"Monitoring role cannot read PHI [{ward.monitor_role}]" in ln
               and "ward.patients.ssn" in ln for ln in failed), out
    assert any("FORCEd [ward.patients]" in ln and ward.app_role in ln for ln in failed), out
    assert any("rows invisible" in ln and subject in ln for ln in failed), out
    # The owner is not subject to the containment policy either.
    assert any(ln.startswith("✗ Containment blocks what it claims [actor ") and
               "the contained actor still read rows" in ln for ln in failed), out
    query(ward.admin, "ALTER TABLE ward.patients FORCE ROW LEVEL SECURITY")
    code, out = _run(capsys, "security", "test", "--dsn", ward.admin)
    assert "✓ RLS tables owned by an application role are FORCEd [ward.patients]" in out
