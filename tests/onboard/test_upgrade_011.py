"""Migration 011 upgrades a 010 install in place: old grants that gave too much are taken back,
and re-running the file changes nothing (#9 item 6)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from pghelpers import one

from vigil import schema
from vigil.core import pg
from vigil.schema import installer, roles


@pytest.fixture
def old_roles(admin_dsn: str, fresh_db: str) -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    mon, app = f"mon011_{suffix}", f"app011_{suffix}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for role in (mon, app):
            conn.execute(f"CREATE ROLE {role} LOGIN".encode())
    yield mon, app
    pg.drop_database(admin_dsn, pg.dbname_of(fresh_db))  # it holds the roles' grants
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for role in (mon, app):
            conn.execute(f"DROP ROLE IF EXISTS {role}".encode())


def test_011_takes_back_what_010_gave_too_much(fresh_db: str, admin_dsn: str,
                                               old_roles: tuple[str, str]) -> None:
    mon, app = old_roles
    with pg.connect(fresh_db) as conn:
        roles.ensure_probe_roles(conn)
        with conn.transaction():
            installer.apply_migrations(conn, up_to=10)
        # What 010-era grants looked like: the monitoring login in both probe roles, the app
        # allowed to call enable_audit and register_phi_column.
        conn.execute(f"GRANT vigil_probe_rls, vigil_probe_bypass TO {mon}".encode())
        conn.execute(f"GRANT USAGE ON SCHEMA vigil_monitor TO {app}; GRANT EXECUTE ON FUNCTION "
                     f"vigil_monitor.enable_audit(regclass, text), "
                     f"vigil_monitor.register_phi_column(regclass, text) TO {app}".encode())
        conn.execute("CREATE TABLE public.t (id int PRIMARY KEY, tenant_id text)")
        conn.execute("ALTER TABLE public.t ENABLE ROW LEVEL SECURITY")
    assert one(fresh_db, "SELECT has_function_privilege(%s, "
               "'vigil_monitor.enable_audit(regclass, text)', 'EXECUTE')", (app,)) == (True,)

    assert 11 in schema.install(fresh_db, exporter_role=mon)
    assert one(fresh_db, "SELECT pg_has_role(%s, 'vigil_probe_bypass', 'MEMBER') OR "
               "pg_has_role(%s, 'vigil_probe_rls', 'MEMBER')", (mon, mon)) == (False,)
    for fn in ("enable_audit(regclass, text)", "register_phi_column(regclass, text)"):
        assert one(fresh_db, "SELECT has_function_privilege(%s, %s, 'EXECUTE')",
                   (app, f"vigil_monitor.{fn}")) == (False,)
    # The monitoring login still measures (through the probe functions), as a non-member.
    with pg.connect(fresh_db) as conn:
        conn.execute("UPDATE vigil_monitor.settings SET value = 'a' WHERE key = 'probe_tenant'")
    row = one(pg.with_dbname(f"user={mon} host=127.0.0.1 port=5432", pg.dbname_of(fresh_db)),
              "SELECT table_name, error FROM vigil_monitor.monitor_rls_overhead(1, 0)")
    assert row == ("t", None)

    # Re-running 011 as written (a half-applied upgrade is simply re-run) changes nothing.
    sql_011 = next(m.sql for m in installer.migrations() if m.version == 11)
    with pg.connect(fresh_db) as conn, conn.transaction():
        conn.execute(sql_011.encode())
    assert schema.status(fresh_db).ok
