"""One runner (vigil/core/migrations.py) applies both schemas' files, each with its own naming and
version table, so databases installed before it upgrade in place (the router's side:
tests/router/test_router_upgrade.py)."""

from __future__ import annotations

import psycopg

from router import migrate as router_migrate
from vigil import schema
from vigil.core import migrations
from vigil.schema import installer


def test_both_schemas_list_their_files_through_the_one_runner() -> None:
    monitor = migrations.shipped(installer.TRACK)
    router = migrations.shipped(router_migrate.TRACK)
    assert schema.migrations() == monitor
    for track in (monitor, router):   # in order, once each (numbers are assigned, gaps allowed)
        versions = [m.version for m in track]
        assert versions == sorted(set(versions)) and versions[0] == 1
    assert monitor[0].name == "core" and router[0].name == "initial"
    assert router_migrate.latest() == router[-1].version >= 5


def test_each_schema_keeps_its_own_version_table(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        applied_monitor = schema.apply_migrations(conn, up_to=3)
        applied_router = migrations.apply(conn, router_migrate.TRACK, up_to=2)
        assert (applied_monitor, applied_router) == ([1, 2, 3], [1, 2])
        assert migrations.applied(conn, installer.TRACK) == {1, 2, 3}
        assert migrations.applied(conn, router_migrate.TRACK) == {1, 2}
        assert conn.execute("SELECT name FROM vigil_monitor.schema_version WHERE version = 1"
                            ).fetchone() == ("core",)
        assert conn.execute("SELECT name FROM vigil_router.schema_migrations WHERE version = 1"
                            ).fetchone() == ("initial",)
        # Each picks up where it stopped, whatever files were added since.
        assert schema.apply_migrations(conn) == [m.version for m in schema.migrations()][3:]
        assert migrations.apply(conn, router_migrate.TRACK) == [
            m.version for m in migrations.shipped(router_migrate.TRACK)][2:]
        assert schema.apply_migrations(conn) == []
