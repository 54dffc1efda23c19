"""Fixtures shared by every test: the real PostgreSQL and throwaway databases.

Tests run in parallel (pytest-xdist), so every database and port a test uses
is unique to it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from vigil import demo
from vigil.core import pg
from vigil.stack import procs


def pytest_configure(config: pytest.Config) -> None:
    # A pytest-xdist worker ends with the pytest that started it, even a SIGKILLed one (else
    # execnet ends it some 15 s later), and with it every server its tests started
    # (support.polling.child, the test stacks): a killed run leaves nothing answering.
    if hasattr(config, "workerinput"):
        procs.die_with_parent_now()


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    dsn = os.environ.get("VIGIL_TEST_ADMIN_DSN", pg.DEFAULT_ADMIN_DSN)
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:  # a test suite that can't reach PG must fail, not skip
        pytest.fail(f"PostgreSQL is not reachable for tests: {exc}")
    return dsn


@pytest.fixture
def make_database(admin_dsn: str) -> Iterator[Callable[[str], str]]:
    """Factory: ``make_database("prefix")`` creates a fresh database and returns its DSN."""
    created: list[str] = []

    def factory(prefix: str = "t") -> str:
        name = f"vigil_{prefix}_{uuid.uuid4().hex[:10]}"
        pg.ensure_database(admin_dsn, name)
        created.append(name)
        return pg.with_dbname(admin_dsn, name)

    yield factory
    for name in created:
        pg.drop_database(admin_dsn, name)


@pytest.fixture
def fresh_db(make_database: Callable[[str], str]) -> str:
    return make_database("t")


@pytest.fixture
def demo_db(admin_dsn: str, make_database: Callable[[str], str]) -> demo.DemoInfo:
    """A fresh demo application (schema, tenants, roles) in its own database."""
    dsn = make_database("demo")
    return demo.setup(admin_dsn, pg.dbname_of(dsn), tenants=3)
