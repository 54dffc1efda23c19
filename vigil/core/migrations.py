"""The one migration runner, for both schemas vigil ships: ``vigil_monitor`` and ``vigil_router``.

A ``Track`` names where a schema's SQL files live, how they are named and which table records
the versions applied. Each schema keeps its own naming and table (``001_core.sql`` in
``vigil_monitor.schema_version``, ``0001_initial.sql`` in ``vigil_router.schema_migrations``)
so databases installed before this runner existed upgrade in place. Every file runs once, in
version order, in the caller's transaction, under the track's advisory lock, so two
installers or two router replicas starting together apply each file exactly once.
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclasses.dataclass(frozen=True)
class Track:
    package: str               # where the .sql files are package data
    folder: str                # inside ``package`` ("" for the package itself)
    pattern: re.Pattern[str]   # file name -> (version, name)
    schema: str
    table: str                 # the schema's version table: (version, name, applied_at)
    lock_id: int               # pg_advisory_xact_lock key serializing runs on one database
    prelude: str = ""          # run before anything else (extensions, the version table)


def shipped(track: Track) -> list[Migration]:
    """Every migration file the track ships, in version order."""
    root = resources.files(track.package)
    if track.folder:
        root = root.joinpath(track.folder)
    found = []
    for entry in root.iterdir():
        m = track.pattern.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda mig: mig.version)


def latest(track: Track) -> int:
    return shipped(track)[-1].version


def _table(track: Track) -> sql.Identifier:
    return sql.Identifier(track.schema, track.table)


def applied(conn: psycopg.Connection[Any], track: Track) -> set[int]:
    """The versions recorded in the track's table (none when it doesn't exist yet)."""
    row = conn.execute("SELECT to_regclass(%s)", (f"{track.schema}.{track.table}",)).fetchone()
    if not row or row[0] is None:
        return set()
    rows = conn.execute(sql.SQL("SELECT version FROM {}").format(_table(track)))
    return {int(str(r[0])) for r in rows}


def apply(conn: psycopg.Connection[Any], track: Track, up_to: int | None = None) -> list[int]:
    """Apply the pending migrations (only those <= ``up_to``, to build an older schema for an
    upgrade test) on ``conn`` and record each; returns the versions applied. Run it inside a
    transaction: the advisory lock is held until that transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (track.lock_id,))
    if track.prelude:
        conn.execute(track.prelude.encode())
    done = applied(conn, track)
    record = sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(_table(track))
    out: list[int] = []
    for mig in shipped(track):
        if mig.version in done or (up_to is not None and mig.version > up_to):
            continue
        conn.execute(mig.sql.encode())
        conn.execute(record, (mig.version, mig.name))
        out.append(mig.version)
    return out
