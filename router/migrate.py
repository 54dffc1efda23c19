"""Versioned migrations for the ``vigil_router`` schema.

Each ``router/migrations/NNNN_name.sql`` runs once, recorded in
``vigil_router.schema_migrations``, by the runner both schemas share (vigil/core/migrations.py),
under an advisory lock so replicas starting together don't race.
"""

from __future__ import annotations

import logging
import re

from vigil.core import migrations, pg
from vigil.core.logs import fields

log = logging.getLogger("vigil.router")

TRACK = migrations.Track(
    package="router.migrations", folder="", pattern=re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$"),
    schema="vigil_router", table="schema_migrations", lock_id=0x76696731,  # "vig1"
    prelude="""
CREATE SCHEMA IF NOT EXISTS vigil_router;
CREATE TABLE IF NOT EXISTS vigil_router.schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()
)""")


def latest() -> int:
    return migrations.latest(TRACK)


def migrate(dsn: str) -> list[int]:
    """Apply pending migrations; returns the versions applied."""
    with (pg.connect(dsn, autocommit=True, application_name="vigil-router-migrate") as conn,
          conn.transaction()):
        applied = migrations.apply(conn, TRACK)
    for version in applied:
        log.info("migration applied", extra=fields(version=version))
    return applied
