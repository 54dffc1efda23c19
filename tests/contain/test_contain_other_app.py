"""Containment on an application unlike the demo: schema ``ward``, integer tenants in a column
named ``site_no`` (registered with vigil db tenant-column), a policy scoped TO the
application role, a table without a tenant column."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from pghelpers import one

from vigil import cli, contain, schema
from vigil.contain import Target
from vigil.core import pg
from vigil.demo.app import role_dsn

APP_SQL = """
CREATE SCHEMA ward;
CREATE TABLE ward.charts (chart_no bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                          site_no integer NOT NULL, note_enc bytea);
CREATE TABLE ward.codes (code text PRIMARY KEY);
ALTER TABLE ward.charts ENABLE ROW LEVEL SECURITY;
ALTER TABLE ward.codes ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_site ON ward.charts TO {app}
    USING (site_no = nullif(current_setting('app.current_tenant_id', true), '')::int)
    WITH CHECK (site_no = nullif(current_setting('app.current_tenant_id', true), '')::int);
CREATE POLICY all_codes ON ward.codes TO {app} USING (true);
GRANT USAGE ON SCHEMA ward TO {app};
GRANT SELECT, INSERT ON ward.charts, ward.codes TO {app};
INSERT INTO ward.charts (site_no) SELECT 1 + g % 3 FROM generate_series(1, 90) g;
INSERT INTO ward.codes VALUES ('A'), ('B');
"""


@dataclass(frozen=True)
class Ward:
    admin: str
    app: str


@pytest.fixture
def ward(make_database: Callable[[str], str], admin_dsn: str) -> Iterator[Ward]:
    dsn = make_database("ward")
    app = f"ward_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {app} LOGIN NOSUPERUSER NOBYPASSRLS".encode())
        conn.execute(APP_SQL.format(app=app).encode())
    schema.install(dsn)
    assert cli.main(["db", "tenant-column", "ward.charts", "site_no", "--dsn", dsn]) == 0
    yield Ward(dsn, role_dsn(dsn, app))
    pg.drop_database(admin_dsn, pg.dbname_of(dsn))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {app}".encode())


def _count(w: Ward, site: str, actor: str = "nurse-1", table: str = "ward.charts") -> int:
    with psycopg.connect(w.app) as conn, conn.transaction():
        conn.execute("SELECT set_config('app.current_tenant_id', %s, true), "
                     "set_config('app.current_actor_id', %s, true)", (site, actor))
        row = conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
        assert row is not None
        return int(row[0])


def test_integer_tenant_in_another_column_is_quarantined_and_released(ward: Ward) -> None:
    before = {s: _count(ward, s) for s in ("1", "2", "3")}
    assert all(before.values())
    target = Target("tenant", "2")
    plan = contain.plan(ward.admin, target, 4, "alice")
    assert any("ward.codes has no tenant column" in n for n in plan.notes), plan.notes
    contain.execute(ward.admin, plan)
    assert contain.verify(ward.admin, target).ok
    assert _count(ward, "2") == 0
    assert _count(ward, "1") == before["1"] and _count(ward, "3") == before["3"]
    assert _count(ward, "2", table="ward.codes") == 2     # no tenant column: untouched
    with psycopg.connect(ward.app) as conn, pytest.raises(
            psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT set_config('app.current_tenant_id', '2', false)")
        conn.execute("INSERT INTO ward.charts (site_no) VALUES (2)")

    # An actor on top: both hold, then each release restores only its own part.
    actor = Target("actor", "nurse-9")
    assert contain.contain(ward.admin, actor, 4, "alice").ok
    assert _count(ward, "1", actor="nurse-9") == 0 and _count(ward, "1") == before["1"]
    assert _count(ward, "2", actor="nurse-1") == 0
    contain.execute(ward.admin, contain.plan_release(ward.admin, target, "alice"))
    assert contain.verify(ward.admin, target).ok
    assert _count(ward, "2") == before["2"] and _count(ward, "2", actor="nurse-9") == 0
    assert contain.release(ward.admin, actor, "alice").ok
    assert _count(ward, "1", actor="nurse-9") == before["1"]
    assert one(ward.admin, "SELECT count(*) FROM pg_policy WHERE polname = 'vigil_contain'"
               ) == (0,)
    assert one(ward.admin, "SELECT count(*) FROM vigil_monitor.access_log WHERE actor_id = "
               "'nurse-9' AND NOT success AND reason = 'actor_contained'")[0] > 0
