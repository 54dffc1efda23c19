"""Install and inspect ``vigil_monitor``: versioned SQL files applied once each, in order
(by vigil/core/migrations.py, the runner the router's schema shares)."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg import pq

from vigil.core import pg
from vigil.core.errors import VigilError
from vigil.core.logs import fields
from vigil.core.migrations import Migration, Track, applied, apply, shipped
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
T = TypeVar("T")


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
        try:
            applied_now = _retrying(conn, lambda: _migrate(conn))
        except psycopg.errors.InsufficientPrivilege:
            raise VigilError("installing vigil_monitor needs a superuser DSN "
                             "(it creates BYPASSRLS probe roles)") from None
        if exporter_role:
            _retrying(conn, lambda: roles.apply_monitor_grants(conn, exporter_role))
        if sealer_role:
            _retrying(conn, lambda: roles.apply_sealer_grants(conn, sealer_role))
        if maintainer_role:
            _retrying(conn, lambda: roles.apply_maintainer_grants(conn, maintainer_role))
    log.info("vigil_monitor installed", extra=fields(applied=applied_now))
    return applied_now


def _migrate(conn: Conn) -> list[int]:
    with conn.transaction():
        applied_now = apply_migrations(conn)
        conn.execute("SELECT vigil_monitor.refresh_probe_grants()")
    return applied_now


def _retrying(conn: Conn, step: Callable[[], T], attempts: int = 6) -> T:
    """Run ``step`` again when a concurrent install in ANOTHER database of the cluster raced
    it on a shared catalog. Roles and their memberships are cluster-wide, but the migration
    lock is per database (advisory locks are), so two databases installed at once can both
    update one pg_authid/pg_auth_members row: PostgreSQL then fails one with "tuple
    concurrently updated" (XX000). Its transaction rolled back whole, so running it again
    is safe; the jittered pause lets the other one finish."""
    for attempt in range(1, attempts + 1):
        try:
            return step()
        except psycopg.errors.InternalError_ as exc:
            if attempt == attempts or "concurrently" not in str(exc):
                raise
            if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                conn.rollback()
            time.sleep(random.uniform(0.05, 0.25) * attempt)
    raise AssertionError("unreachable")


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
