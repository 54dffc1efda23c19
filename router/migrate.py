"""Versioned migrations for the ``vigil_router`` schema.

Each ``router/migrations/NNNN_name.sql`` runs once, in its own transaction,
under an advisory lock so replicas starting together don't race.
"""

from __future__ import annotations

import logging
import re
from importlib import resources

import psycopg

from vigil import pg
from vigil.logs import fields

log = logging.getLogger("vigil.router")
LOCK_ID = 0x76696731  # "vig1"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def available() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every shipped migration, in order."""
    out = []
    for entry in resources.files("router.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    return sorted(out)


def latest() -> int:
    return available()[-1][0]


_BOOKKEEPING = """
CREATE SCHEMA IF NOT EXISTS vigil_router;
CREATE TABLE IF NOT EXISTS vigil_router.schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()
)"""


def migrate(dsn: str) -> list[int]:
    """Apply pending migrations; returns the versions applied."""
    applied: list[int] = []
    with (pg.connect(dsn, autocommit=True, application_name="vigil-router-migrate") as conn,
          conn.transaction()):
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        conn.execute(_BOOKKEEPING)
        done = {r[0] for r in conn.execute("SELECT version FROM vigil_router.schema_migrations")}
        for version, name, sql in available():
            if version in done:
                continue
            conn.execute(sql.encode())
            conn.execute("INSERT INTO vigil_router.schema_migrations (version, name) "
                         "VALUES (%s, %s)", (version, name))
            applied.append(version)
            log.info("migration applied", extra=fields(version=version, name=name))
    return applied


def current_version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM vigil_router.schema_migrations"
                       ).fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]
