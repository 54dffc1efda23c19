"""Containment fixtures: one demo database per module (setting it up costs seconds), and
throwaway login roles that never outlive the test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from vigil import demo, pg
from vigil.demo.app import role_dsn


@pytest.fixture(scope="module")
def demo_mod(admin_dsn: str) -> Iterator[demo.DemoInfo]:
    name = f"vigil_contain_{uuid.uuid4().hex[:10]}"
    pg.ensure_database(admin_dsn, name)
    try:
        yield demo.setup(admin_dsn, name, tenants=3)
    finally:
        pg.drop_database(admin_dsn, name)


@pytest.fixture
def login_role(admin_dsn: str, demo_mod: demo.DemoInfo) -> Iterator[Callable[[], tuple[str, str]]]:
    """Factory: a new LOGIN role with its own CONNECT on the demo database -> (name, dsn)."""
    made: list[str] = []

    def factory() -> tuple[str, str]:
        name = f"vigil_suspect_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE {name} LOGIN'.encode())
            conn.execute(f'GRANT CONNECT ON DATABASE {demo_mod.dbname} TO {name}'.encode())
        made.append(name)
        return name, role_dsn(demo_mod.admin_dsn, name)

    yield factory
    with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
        for name in made:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE usename = %s", (name,))
            conn.execute(f"REVOKE ALL ON DATABASE {demo_mod.dbname} FROM {name}".encode())
            conn.execute(f"DROP ROLE IF EXISTS {name}".encode())
