"""The ONE row-hash predicate, shared by the sealer and every verifier.

Two algorithms live in one chain:

* ``sha256`` (legacy, rows written before migration 008): the unkeyed SHA-256 that
  ``vigil_monitor.audit_row_hash()`` computes in SQL, over the row id, the epoch text of
  ``logged_at`` as PostgreSQL renders it, the identifiers and ``prev_hash``.
* ``hmac-sha256`` (every row the sealer writes): HMAC-SHA256 with a key outside the database,
  over a JSON array of the row's content and ``prev_hash``. The id is not in it on purpose: a
  row's place is fixed by the links (each HMAC covers its predecessor's hash), so a removed or
  inserted row shows up as a broken link next to otherwise valid rows, which lets the verifier
  say which happened. Checkpoints pin seq -> hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

LEGACY = "sha256"
KEYED = "hmac-sha256"
GENESIS = "genesis"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Columns every verifier reads, in ChainRow order. epoch_text is PostgreSQL's own rendering,
# which the legacy predicate hashed.
ROW_COLUMNS = ("id, logged_at, extract(epoch FROM logged_at)::text, tenant_id, actor_id, "
               "table_name, operation, row_pk, changed_columns, prev_hash, row_hash, hash_alg, "
               "txid, buffer_id")


@dataclass(frozen=True)
class ChainRow:
    id: int
    logged_at: datetime
    epoch_text: str
    tenant_id: str | None
    actor_id: str
    table_name: str
    operation: str
    row_pk: str | None
    changed_columns: tuple[str, ...]
    prev_hash: str
    row_hash: str
    hash_alg: str
    txid: int | None
    buffer_id: int | None

    @classmethod
    def from_db(cls, r: tuple[object, ...]) -> ChainRow:
        cols = r[8] if isinstance(r[8], list) else []
        return cls(int(str(r[0])), r[1], str(r[2]), _opt(r[3]), str(r[4]),  # type: ignore[arg-type]
                   str(r[5]), str(r[6]), _opt(r[7]), tuple(str(c) for c in cols), str(r[9]),
                   str(r[10]), str(r[11]), _int(r[12]), _int(r[13]))


def _opt(v: object) -> str | None:
    return None if v is None else str(v)


def _int(v: object) -> int | None:
    return None if v is None else int(str(v))


def micros(ts: datetime) -> int:
    """Exact microseconds since the epoch (no float rounding)."""
    return (ts - _EPOCH) // timedelta(microseconds=1)


def key_id(key: bytes) -> str:
    """A public name for the key (written to checkpoints), not enough to recover it."""
    return hmac.new(key, b"vigil-audit-key-id", hashlib.sha256).hexdigest()[:16]


def keyed_hash(key: bytes, *, logged_at: datetime, tenant_id: str | None, actor_id: str,
               table_name: str, operation: str, row_pk: str | None,
               changed_columns: tuple[str, ...], prev_hash: str, txid: int | None,
               buffer_id: int | None) -> str:
    body = json.dumps(["vigil-audit-v2", micros(logged_at), tenant_id, actor_id, table_name,
                       operation, row_pk, list(changed_columns), prev_hash, txid, buffer_id],
                      ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def legacy_hash(row: ChainRow) -> str:
    """vigil_monitor.audit_row_hash() of 002 (concat_ws skips NULLs; none can be NULL here)."""
    parts = [str(row.id), row.epoch_text, row.tenant_id or "", row.actor_id, row.table_name,
             row.operation, row.row_pk or "", ",".join(row.changed_columns), row.prev_hash]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def expected_hash(row: ChainRow, key: bytes) -> str:
    """What ``row.row_hash`` must be, given its own content and stored prev_hash."""
    if row.hash_alg == LEGACY:
        return legacy_hash(row)
    return keyed_hash(key, logged_at=row.logged_at, tenant_id=row.tenant_id,
                      actor_id=row.actor_id, table_name=row.table_name,
                      operation=row.operation, row_pk=row.row_pk,
                      changed_columns=row.changed_columns, prev_hash=row.prev_hash,
                      txid=row.txid, buffer_id=row.buffer_id)


def row_ok(row: ChainRow, key: bytes) -> bool:
    return hmac.compare_digest(expected_hash(row, key), row.row_hash)
