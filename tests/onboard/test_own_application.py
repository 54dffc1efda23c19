"""An application unlike the demo, onboarded with the guide's commands only (#9, Done when).

Schema ``clinic``, uuid tenants in ``org_id``, primary keys ``patient_no`` (bigint) and
``visit_key`` (uuid), one policy scoped ``TO`` the application role, one that reads a
membership table. Before onboarding, nothing reads as ✓; after, everything is measured.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pghelpers import one, query
from support.ownapp import own_application

from vigil import cli

ORG_A = "8c5d3f7e-0000-4000-8000-00000000000a"
ORG_B = "8c5d3f7e-0000-4000-8000-00000000000b"

APP_SQL = """
CREATE SCHEMA clinic;
CREATE TABLE clinic.memberships (org_id uuid PRIMARY KEY, plan text NOT NULL);
CREATE TABLE clinic.patients (
    patient_no bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id uuid NOT NULL, mrn text NOT NULL, name_enc bytea);
CREATE INDEX ON clinic.patients (org_id);
CREATE TABLE clinic.visits (
    visit_key uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL, patient_no bigint NOT NULL, diagnosis_enc bytea);
CREATE INDEX ON clinic.visits (org_id);
ALTER TABLE clinic.patients ENABLE ROW LEVEL SECURITY;
ALTER TABLE clinic.visits ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_only ON clinic.patients TO {app}
    USING (org_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    WITH CHECK (org_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
CREATE POLICY member_only ON clinic.visits
    USING (EXISTS (SELECT 1 FROM clinic.memberships m WHERE m.org_id = visits.org_id
                   AND m.org_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid))
    WITH CHECK (org_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
GRANT USAGE ON SCHEMA clinic TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON clinic.patients, clinic.visits TO {app};
GRANT SELECT ON clinic.memberships TO {app};
INSERT INTO clinic.memberships VALUES ('{a}', 'gold'), ('{b}', 'basic');
INSERT INTO clinic.patients (org_id, mrn)
    SELECT CASE WHEN g % 2 = 0 THEN '{a}'::uuid ELSE '{b}'::uuid END, 'MRN-' || g
    FROM generate_series(1, 200) g;
INSERT INTO clinic.visits (org_id, patient_no)
    SELECT org_id, patient_no FROM clinic.patients;
"""


@dataclass(frozen=True)
class Clinic:
    admin: str
    app: str
    app_role: str
    monitor: str
    monitor_role: str


@pytest.fixture
def clinic(make_database: Callable[[str], str], admin_dsn: str) -> Iterator[Clinic]:
    with own_application(make_database, admin_dsn, "clinic", APP_SQL, a=ORG_A,
                         b=ORG_B) as (dsn, app_role, monitor_role):
        yield Clinic(dsn, _as(dsn, app_role), app_role, _as(dsn, monitor_role), monitor_role)


def _as(dsn: str, user: str) -> str:
    parts = [p for p in dsn.split() if not p.startswith(("user=", "password="))]
    return " ".join([f"user={user}", *parts])


def vigil(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def _write_as_app(c: Clinic, org: str, actor: str) -> None:
    with psycopg.connect(c.app) as conn:
        conn.execute("SELECT set_config('app.current_tenant_id', %s, false), "
                     "set_config('app.current_actor_id', %s, false)", (org, actor))
        conn.execute("INSERT INTO clinic.patients (org_id, mrn) VALUES (%s, 'MRN-new')", (org,))
        conn.execute("UPDATE clinic.patients SET mrn = 'MRN-upd' WHERE mrn = 'MRN-new'")
        conn.execute("INSERT INTO clinic.visits (org_id, patient_no) SELECT org_id, patient_no "
                     "FROM clinic.patients WHERE mrn = 'MRN-upd'")


def test_onboarding_an_application_unlike_the_demo(
        clinic: Clinic, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    c = clinic
    code, out = vigil(capsys, "db", "install", "--dsn", c.admin, "--exporter-role",
                      c.monitor_role)
    assert code == 0, out

    # Before onboarding: db status names each missing step, with its fix.
    code, out = vigil(capsys, "db", "status", "--dsn", c.admin)
    assert code == 1
    assert "no PHI column registered" in out and "vigil db phi add" in out
    for table in ("clinic.patients", "clinic.visits"):
        assert f"RLS table {table} has no tenant column" in out
        assert f"vigil db tenant-column {table} COLUMN" in out
    assert "probe tenant unset" in out and "vigil db probe set --tenant" in out
    # ... and the checks never print ✓ for what they did not measure.
    code, out = vigil(capsys, "check", "health", "--dsn", c.monitor)
    assert code == 1 and "✓" not in out, out
    assert "probe_tenant_unset" in out and "⚠ PHI Query Time: no data" in out
    code, out = vigil(capsys, "check", "verify", "--dsn", c.monitor)
    # The one ✓ allowed is a check that did examine something: the controls (012) of the two
    # RLS tables, unchanged since the baseline the install approved.
    ticks = [ln for ln in out.splitlines() if "✓" in ln]
    assert code == 1 and ticks == ["✓ Controls: 2 monitored tables examined, as approved"], out
    assert "⚠ Audit coverage" in out and "no tenant column" in out

    # The guide's steps (docs/own-application.md), each a vigil command.
    steps = [
        ["db", "grants", "--app-role", c.app_role],
        ["db", "phi", "add", "clinic.patients", "name_enc"],
        ["db", "phi", "add", "clinic.visits", "diagnosis_enc"],
        ["db", "tenant-column", "clinic.patients", "org_id"],
        ["db", "tenant-column", "clinic.visits", "org_id"],
        ["db", "audit", "enable", "clinic.patients"],
        ["db", "audit", "enable", "clinic.visits"],
        ["db", "probe", "set", "--tenant", ORG_A],
    ]
    assert cli.main(["db", "phi", "add", "clinic.patients", "name_enc", "--dsn", c.admin]) == 0
    code, out = vigil(capsys, "db", "status", "--dsn", c.admin)
    assert "PHI table clinic.patients has no audit trigger" in out
    assert "vigil db audit enable clinic.patients" in out
    second: dict[str, str] = {}
    for step in steps:
        code, out = vigil(capsys, *step, "--dsn", c.admin)
        assert code == 0, (step, out)
        # Idempotent: a second run succeeds and says nothing had to change.
        code, second[" ".join(step)] = vigil(capsys, *step, "--dsn", c.admin)
        assert code == 0, (step, second)
    assert "already registered as PHI" in second["db phi add clinic.visits diagnosis_enc"]
    assert "tenant column already org_id" in second["db tenant-column clinic.visits org_id"]
    assert ("audit trigger in place (rows identified by patient_no)"
            in second["db audit enable clinic.patients"])
    assert "rows identified by visit_key" in second["db audit enable clinic.visits"]
    code, out = vigil(capsys, "db", "status", "--dsn", c.admin)
    assert code == 0, out
    assert "not monitored" not in out
    # A probe tenant that has no data is refused, and named if its rows go away.
    code = cli.main(["db", "probe", "set", "--tenant", str(uuid.uuid4()), "--dsn", c.admin])
    assert code != 0
    with psycopg.connect(c.admin, autocommit=True) as conn:
        conn.execute("UPDATE vigil_monitor.settings SET value = %s WHERE key = 'probe_tenant'",
                     (str(uuid.uuid4()),))
    code, out = vigil(capsys, "db", "status", "--dsn", c.admin)
    assert code == 1 and "has no row in any RLS table" in out
    assert cli.main(["db", "probe", "set", "--tenant", ORG_A, "--dsn", c.admin]) == 0

    # Every RLS table measured, as the application role sees it.
    rows = query(c.monitor, "SELECT table_name, avg_overhead_ms, error FROM "
                 "vigil_monitor.monitor_rls_overhead(1, 0) ORDER BY 2")
    assert {r[0] for r in rows} == {"patients", "visits"}
    assert all(r[1] is not None and r[2] is None for r in rows), rows

    # Audit rows carry the right tenant (uuid in org_id) and primary key, after sealing.
    _write_as_app(c, ORG_B, "dr-b")
    key = tmp_path / "audit.key"
    assert cli.main(["audit", "keygen", str(key)]) == 0
    code, out = vigil(capsys, "audit", "seal", "--dsn", c.admin, "--key-file", str(key),
                      "--once", "--checkpoint-file", str(tmp_path / "heads.jsonl"))
    assert code == 0, out
    sealed = query(c.admin, "SELECT table_name, operation, tenant_id, row_pk FROM "
                   "vigil_monitor.audit_log WHERE actor_id = 'dr-b' ORDER BY id")
    new_no = one(c.admin, "SELECT patient_no::text FROM clinic.patients WHERE mrn = 'MRN-upd'")[0]
    assert ("clinic.patients", "INSERT", ORG_B, new_no) in sealed
    assert ("clinic.patients", "UPDATE", ORG_B, new_no) in sealed
    assert any(r[0] == "clinic.visits" and r[2] == ORG_B for r in sealed)
    assert all(r[2] == ORG_B for r in sealed)

    # Tenant isolation probed on every table; the chain and coverage verified.
    code, out = vigil(capsys, "check", "verify", "--dsn", c.monitor)
    assert code == 0, out
    assert "on 2 of 2 RLS tables" in out and "✗" not in out and "⚠" not in out

    # An injected slow policy of each kind (restrictive TO the app role; inside the membership
    # lookup) really takes 60 ms, and crosses 50 ms in the measurement.
    with psycopg.connect(c.admin, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION clinic.slow_ok() RETURNS boolean LANGUAGE sql VOLATILE "
                     "AS $$ SELECT true FROM pg_sleep(0.06) $$")
        conn.execute(f"CREATE POLICY slow ON clinic.patients AS RESTRICTIVE TO {c.app_role} "
                     "USING ((SELECT clinic.slow_ok()))".encode())
        conn.execute("ALTER POLICY member_only ON clinic.visits USING (EXISTS (SELECT 1 FROM "
                     "clinic.memberships m WHERE m.org_id = visits.org_id AND m.org_id = "
                     "nullif(current_setting('app.current_tenant_id', true), '')::uuid "
                     "AND (SELECT clinic.slow_ok())))")
    rows = query(c.monitor, "SELECT table_name, avg_overhead_ms FROM "
                 "vigil_monitor.monitor_rls_overhead(1, 0) ORDER BY 1")
    assert [r[0] for r in rows] == ["patients", "visits"]
    assert all(r[1] is not None and r[1] > 50 for r in rows), rows
    code, out = vigil(capsys, "check", "health", "--dsn", c.monitor, "--samples", "1")
    assert code == 1 and "✗ RLS Overhead" in out


def test_least_privilege_for_app_and_monitoring_logins(
        clinic: Clinic, capsys: pytest.CaptureFixture[str]) -> None:
    c = clinic
    assert cli.main(["db", "install", "--dsn", c.admin, "--exporter-role", c.monitor_role]) == 0
    for step in (["db", "grants", "--app-role", c.app_role],
                 ["db", "tenant-column", "clinic.patients", "org_id"],
                 ["db", "probe", "set", "--tenant", ORG_A]):
        assert cli.main([*step, "--dsn", c.admin]) == 0

    # The application role cannot call the admin functions.
    for call in ("SELECT vigil_monitor.enable_audit('vigil_monitor.audit_log'::regclass)",
                 "SELECT vigil_monitor.register_phi_column('clinic.patients', 'mrn')",
                 "SELECT vigil_monitor.register_tenant_column('clinic.patients', 'mrn')",
                 "SELECT vigil_monitor.refresh_probe_grants()"):
        with psycopg.connect(c.app) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(call.encode())
    with psycopg.connect(c.app) as conn:  # what it must call still works
        conn.execute("SELECT vigil_monitor.record_access('clinic.patients', 'read', true)")

    # The monitoring login cannot read mrn (sensitive, never registered as PHI) of another
    # tenant: not directly, not through a probe role, not as the application role.
    for stmt in ("SELECT mrn FROM clinic.patients LIMIT 1",
                 "SET ROLE vigil_probe_bypass",
                 "SET ROLE vigil_probe_rls",
                 f"SET ROLE {c.app_role}"):
        with (psycopg.connect(c.monitor) as conn,
              pytest.raises(psycopg.errors.InsufficientPrivilege)):
            conn.execute(stmt.encode())
    # The probe roles themselves read only the allow-list (primary key, tenant column).
    allowed = query(c.admin, "SELECT column_name FROM information_schema.column_privileges "
                    "WHERE grantee = 'vigil_probe_bypass' AND table_schema = 'clinic' "
                    "AND table_name = 'patients' ORDER BY 1")
    assert [r[0] for r in allowed] == ["org_id", "patient_no"]
    # ... and the monitoring login still runs every check without a superuser.
    code, out = vigil(capsys, "check", "verify", "--dsn", c.monitor)
    # (clinic.visits has no tenant column registered here: named, and not a ✓)
    assert code == 1 and "✗ Tenant isolation" in out and "clinic.visits (no tenant column" in out

    # A function added later (a new migration) is not executable by PUBLIC.
    with psycopg.connect(c.admin, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION vigil_monitor.added_by_migration_999() RETURNS int "
                     "LANGUAGE sql AS 'SELECT 1'")
    public = query(c.admin, "SELECT p.proname FROM pg_proc p, aclexplode(coalesce(p.proacl, "
                   "acldefault('f', p.proowner))) a WHERE p.pronamespace = "
                   "'vigil_monitor'::regnamespace AND a.grantee = 0")
    assert public == []
    with psycopg.connect(c.app) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT vigil_monitor.added_by_migration_999()")


def test_the_rls_probe_role_acts_only_on_the_tables_it_measures(clinic: Clinic) -> None:
    """vigil_probe_rls inherits the application role's rights (a policy TO that role applies
    only to roles that have them; schema 019 says why they cannot be narrowed). The monitoring
    login reaches them only through the probe functions, which take the RLS tables the probe
    measures and refuse any other table the application can read."""
    c = clinic
    assert cli.main(["db", "install", "--dsn", c.admin, "--exporter-role", c.monitor_role]) == 0
    assert cli.main(["db", "tenant-column", "clinic.patients", "org_id", "--dsn", c.admin]) == 0
    with psycopg.connect(c.admin, autocommit=True) as conn:   # the app reads it, no RLS
        conn.execute("CREATE TABLE clinic.notes (tenant_id text, body text)")
        conn.execute(f"GRANT SELECT ON clinic.notes TO {c.app_role}")
        conn.execute("INSERT INTO clinic.notes VALUES ('x', 'secret')")
    # by oid: the monitoring login has no USAGE on the application's schema
    oid = {t: one(c.admin, "SELECT %s::regclass::oid::bigint", (t,))[0]
           for t in ("clinic.notes", "clinic.memberships", "clinic.patients")}
    calls = ("SELECT vigil_monitor.probe_run_rls(%s::oid::regclass)",
             "SELECT vigil_monitor.probe_run_bypass(%s::oid::regclass)",
             f"SELECT vigil_monitor.isolation_leaks(%s::oid::regclass, '{ORG_A}')")
    with psycopg.connect(c.monitor, autocommit=True) as conn:
        for call in calls:
            for table in ("clinic.notes", "clinic.memberships"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(call.encode(), (oid[table],))
        # the table it measures, with its policy TO the app role: timed, and no leak
        timings = [conn.execute(call.encode(), (oid["clinic.patients"],)).fetchone()
                   for call in calls[:2]]
        assert all(t is not None and t[0] >= 0 for t in timings), timings
        assert conn.execute(calls[2].encode(), (oid["clinic.patients"],)).fetchone() == (0,)
