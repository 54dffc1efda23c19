"""Install and inspect ``vigil_monitor``: versioned SQL files applied once each, in order
(by vigil/migrations.py, the runner the router's schema shares)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import psycopg

from vigil import pg
from vigil.errors import VigilError
from vigil.logs import fields
from vigil.migrations import Migration, Track, applied, apply, shipped
from vigil.schema import roles
from vigil.schema.contract import (
    CONTRACT,
    DEFAULT_EXPORTER_ROLE,
    DEFAULT_MAINTAINER_ROLE,
    DEFAULT_SEALER_ROLE,
    SCHEMA,
)

log = logging.getLogger("vigil.schema")
# Files NNN_name.sql recorded in vigil_monitor.schema_version (created by 001), applied by
# the runner the router's schema uses too; the lock serializes concurrent installs into one
# database (it is held until install's transaction ends, over the probe-grant refresh too).
TRACK = Track(package="vigil.schema", folder="sql", pattern=re.compile(r"^(\d{3})_(\w+)\.sql$"),
              schema=SCHEMA, table="schema_version", lock_id=7311930000,
              prelude="CREATE EXTENSION IF NOT EXISTS pgcrypto")

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class Status:
    installed_version: int | None
    latest_version: int
    pending: tuple[int, ...]
    missing: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.missing and not self.pending


def migrations() -> list[Migration]:
    return shipped(TRACK)


def _applied(conn: Conn) -> set[int]:
    return applied(conn, TRACK)


def apply_migrations(conn: psycopg.Connection[Any], up_to: int | None = None) -> list[int]:
    """Apply the pending migrations (only those <= ``up_to``, to build an older schema for an
    upgrade test) on ``conn`` and record each; returns the versions applied."""
    return apply(conn, TRACK, up_to)


def install(dsn: str, exporter_role: str | None = DEFAULT_EXPORTER_ROLE,
            sealer_role: str | None = DEFAULT_SEALER_ROLE,
            maintainer_role: str | None = DEFAULT_MAINTAINER_ROLE) -> list[int]:
    """Apply pending migrations, refresh probe grants, grant the exporter role, the audit
    sealer role (``vigil audit seal`` logs in as it) and the maintenance role
    (``vigil db maintain``).

    Returns the versions applied now (empty when already up to date). Safe to re-run and to run
    concurrently against different databases of one cluster.
    """
    with pg.connect(dsn) as conn:
        roles.ensure_probe_roles(conn)
        if exporter_role:
            roles.ensure_role(conn, exporter_role, "LOGIN NOSUPERUSER NOBYPASSRLS")
        if sealer_role:
            roles.ensure_role(conn, sealer_role, "LOGIN NOSUPERUSER NOBYPASSRLS")
        if maintainer_role:
            roles.ensure_role(conn, maintainer_role, "LOGIN NOSUPERUSER NOBYPASSRLS")
        applied_now: list[int] = []
        try:
            with conn.transaction():
                applied_now = apply_migrations(conn)
                conn.execute("SELECT vigil_monitor.refresh_probe_grants()")
        except psycopg.errors.InsufficientPrivilege:
            raise VigilError("installing vigil_monitor needs a superuser DSN "
                             "(it creates BYPASSRLS probe roles)") from None
        if exporter_role:
            roles.apply_monitor_grants(conn, exporter_role)
        if sealer_role:
            roles.apply_sealer_grants(conn, sealer_role)
        if maintainer_role:
            roles.apply_maintainer_grants(conn, maintainer_role)
    log.info("vigil_monitor installed", extra=fields(applied=applied_now))
    return applied_now


def grant_exporter(dsn: str, role: str) -> None:
    """Give ``role`` exactly pg_monitor plus the shipped read grants (creates it if missing)."""
    with pg.connect(dsn) as conn:
        roles.ensure_role(conn, role, "LOGIN NOSUPERUSER NOBYPASSRLS")
        roles.apply_monitor_grants(conn, role)


def grant_app(dsn: str, role: str) -> None:
    """Let an application role call the SECURITY DEFINER write functions."""
    with pg.connect(dsn) as conn:
        roles.apply_app_grants(conn, role)


def status(dsn: str) -> Status:
    with pg.connect(dsn) as conn:
        done = _applied(conn)
        latest = max(m.version for m in migrations())
        missing: list[str] = []
        for obj in CONTRACT:
            if obj.kind == "function":
                row = conn.execute("SELECT to_regprocedure(%s)",
                                   (f"{SCHEMA}.{obj.name}({obj.signature})",)).fetchone()
            else:
                row = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.{obj.name}",)).fetchone()
            if not row or row[0] is None:
                missing.append(obj.name)
                continue
            if obj.kind != "function" and _column_missing(conn, obj.name, obj.columns):
                missing.append(f"{obj.name} (columns)")
        pending = tuple(m.version for m in migrations() if m.version not in done)
        return Status(max(done) if done else None, latest, pending, tuple(missing))


def _column_missing(conn: Conn, name: str, columns: tuple[str, ...]) -> bool:
    have = {str(r[0]) for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
        "AND NOT attisdropped", (f"{SCHEMA}.{name}",))}
    return not set(columns) <= have
