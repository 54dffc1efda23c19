"""An application unlike the demo, in a database of its own, with its own login role and a
name for its monitoring role: the set-up every "any application" test starts from."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import psycopg

from vigil.core import pg


@contextlib.contextmanager
def own_application(make_database: Callable[[str], str], admin_dsn: str, prefix: str,
                    app_sql: str, **fmt: str) -> Iterator[tuple[str, str, str]]:
    """``(dsn, app_role, monitor_role)``: ``app_sql.format(app=app_role, **fmt)`` run as the
    superuser in a fresh database. Roles are cluster-wide, so both are dropped on the way
    out, once the database holding their grants is gone, even when set-up fails half-way."""
    dsn = make_database(prefix)
    suffix = uuid.uuid4().hex[:8]
    app_role, monitor_role = f"{prefix}_app_{suffix}", f"{prefix}_mon_{suffix}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {app_role} LOGIN NOSUPERUSER NOBYPASSRLS".encode())
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(app_sql.format(app=app_role, **fmt).encode())
        yield dsn, app_role, monitor_role
    finally:
        pg.drop_database(admin_dsn, pg.dbname_of(dsn))
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            for role in (app_role, monitor_role):
                conn.execute(f"DROP ROLE IF EXISTS {role}".encode())
