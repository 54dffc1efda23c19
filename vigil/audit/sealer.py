"""``vigil audit seal``: move settled buffer rows into the keyed chain, in batches.

Order: (txid, buffer id) of rows whose transaction is below the settled horizon
(vigil_monitor.audit_settled_horizon(): 006's watermark, held back only by this database's
open transactions). An open transaction holds the horizon back, so a row it writes later can
never sort before one already sealed: the chain's order is the buffer's (txid, id) order.
Each batch is one transaction: INSERT into audit_log (next gap-free ids) + DELETE of exactly
those buffer rows.
One sealer at a time holds a session advisory lock; the primary key on audit_log.id is the last
line of defence against a fork. The checkpoint line is written after the commit (a line for an
uncommitted head would look like a tail rewrite).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

from vigil.audit import chain, checkpoints
from vigil.audit.errors import ChainForked

log = logging.getLogger("vigil.audit")
SEALER_LOCK = 7311930002
Conn = psycopg.Connection[tuple[object, ...]]

_PENDING = ("SELECT id, txid, logged_at, tenant_id, actor_id, table_name, operation, row_pk, "
            "changed_columns FROM vigil_monitor.audit_buffer "
            "WHERE txid < %s ORDER BY txid, id LIMIT %s")
# Read in its own statement, before the rows: under READ COMMITTED the row read then takes a
# later snapshot, so every transaction below the horizon is visible to it and batches stay in
# (txid, id) order (in one statement, a transaction that committed between the statement's
# snapshot and the horizon's pg_stat_activity read would be passed over, then chained late).
_HORIZON = "SELECT vigil_monitor.audit_settled_horizon()"
# Where the keyed chain starts: max(id) over the partial index audit_log_legacy_id (schema
# 013), O(log n) before every batch instead of a walk over every keyed row. The predicate must
# match the index's literally, so it is not a parameter.
KEYED_FROM = ("SELECT coalesce(max(id), 0) + 1 FROM vigil_monitor.audit_log "
              "WHERE hash_alg = 'sha256'")
_INSERT = ("INSERT INTO vigil_monitor.audit_log (id, logged_at, tenant_id, actor_id, table_name, "
           "operation, row_pk, changed_columns, prev_hash, row_hash, hash_alg, txid, buffer_id, "
           "sealed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
           "clock_timestamp())")


@dataclass
class Head:
    seq: int
    hash: str
    keyed_from: int


@dataclass
class Sealed:
    rows: int = 0
    head: Head | None = None
    checkpoints: list[checkpoints.Checkpoint] = field(default_factory=list)


def try_lock(conn: Conn) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (SEALER_LOCK,)).fetchone()
    return bool(row and row[0])


def unlock(conn: Conn) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (SEALER_LOCK,))


def read_head(conn: Conn) -> Head:
    row = conn.execute("SELECT id, row_hash, hash_alg FROM vigil_monitor.audit_log "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return Head(0, chain.GENESIS, 1)
    seq, h, alg = int(str(row[0])), str(row[1]), str(row[2])
    if alg == chain.LEGACY:
        return Head(seq, h, seq + 1)
    first = conn.execute(KEYED_FROM).fetchone()
    return Head(seq, h, int(str(first[0])) if first else 1)


def seal_batch(conn: Conn, key: bytes, batch: int, checkpoint_file: Path | None) -> int:
    """Seal up to ``batch`` settled rows; returns how many. ``conn`` must be in autocommit."""
    with conn.transaction():
        head = read_head(conn)
        horizon = conn.execute(_HORIZON).fetchone()
        pending = conn.execute(_PENDING, (horizon[0] if horizon else 0, batch)).fetchall()
        if not pending:
            return 0
        seq, prev = head.seq, head.hash
        params: list[tuple[object, ...]] = []
        for r in pending:
            buffer_id, txid = int(str(r[0])), int(str(r[1]))
            logged_at = r[2]
            assert isinstance(logged_at, datetime)
            cols = tuple(str(c) for c in r[8]) if isinstance(r[8], list) else ()
            tenant, pk = _opt(r[3]), _opt(r[7])
            h = chain.keyed_hash(key, logged_at=logged_at, tenant_id=tenant, actor_id=str(r[4]),
                                 table_name=str(r[5]), operation=str(r[6]), row_pk=pk,
                                 changed_columns=cols, prev_hash=prev, txid=txid,
                                 buffer_id=buffer_id)
            seq += 1
            params.append((seq, logged_at, tenant, str(r[4]), str(r[5]), str(r[6]), pk,
                           list(cols), prev, h, chain.KEYED, txid, buffer_id))
            prev = h
        try:
            with conn.cursor() as cur:
                cur.executemany(_INSERT, params)
        except psycopg.errors.UniqueViolation:
            raise ChainForked("another sealer appended to the chain at the same time; "
                              "this one backs off") from None
        conn.execute("DELETE FROM vigil_monitor.audit_buffer WHERE id = ANY(%s)",
                     ([p[12] for p in params],))
    if checkpoint_file is not None:
        checkpoints.append(checkpoint_file, checkpoints.Checkpoint(
            seq, prev, checkpoints.now(), chain.key_id(key), head.keyed_from))
    return len(params)


def seal_pending(conn: Conn, key: bytes, checkpoint_file: Path | None = None,
                 batch: int = 1000) -> int:
    """Seal everything settled now (one-shot; the caller holds the sealer lock)."""
    total = 0
    while True:
        n = seal_batch(conn, key, batch, checkpoint_file)
        total += n
        if n < batch:
            return total


def _opt(v: object) -> str | None:
    return None if v is None else str(v)
