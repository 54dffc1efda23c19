"""Migration 010 upgrades an install in place: monitor_rls_overhead() gains ``error`` and
keeps its grants, and re-applying it changes nothing."""

from __future__ import annotations

from vigil import schema
from vigil.core import pg
from vigil.schema import roles


def test_010_upgrades_in_place_and_is_idempotent(fresh_db: str) -> None:
    with pg.connect(fresh_db) as conn:
        roles.ensure_probe_roles(conn)
        schema.apply_migrations(conn, up_to=9)
    assert 10 in schema.install(fresh_db)
    assert schema.status(fresh_db).ok
    with pg.connect(fresh_db) as conn:
        sql = next(m.sql for m in schema.installer.migrations() if m.version == 10)
        conn.execute(sql.encode())  # again: no error, no second column
        cols = [r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = "
            "'vigil_monitor.rls_overhead_row'::regclass AND attnum > 0 ORDER BY attnum")]
        assert cols[-1] == "error" and cols.count("error") == 1
        public = conn.execute(
            "SELECT has_function_privilege('public', "
            "'vigil_monitor.monitor_rls_overhead(int, int)', 'EXECUTE')").fetchone()
        assert public == (False,)
