"""vigil/audit/chain.py: the one row-hash predicate the sealer and every verifier share."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from vigil.audit import chain

KEY = b"unit-audit-key-0123456789abcdef"
WHEN = datetime(2026, 11, 30, 3, 0, 0, 123456, tzinfo=UTC)


def sealed(prev_hash: str = chain.GENESIS, **over: object) -> chain.ChainRow:
    """A row as the sealer writes it: its hash computed over its own content."""
    row = chain.ChainRow(id=7, logged_at=WHEN, epoch_text="1796007600.123456",
                         tenant_id="t1", actor_id="app", table_name="patients",
                         operation="UPDATE", row_pk="42", changed_columns=("name", "dob"),
                         prev_hash=prev_hash, row_hash="", hash_alg=chain.KEYED, txid=900,
                         buffer_id=31)
    row = dataclasses.replace(row, **over)  # type: ignore[arg-type]
    return dataclasses.replace(row, row_hash=chain.expected_hash(row, KEY))


def test_a_sealed_row_verifies_with_its_key_only() -> None:
    row = sealed()
    assert chain.row_ok(row, KEY)
    assert not chain.row_ok(row, b"another key, same length as the...")


@pytest.mark.parametrize("field", ["logged_at", "tenant_id", "actor_id", "table_name",
                                   "operation", "row_pk", "changed_columns", "prev_hash",
                                   "txid", "buffer_id"])
def test_changing_any_covered_field_breaks_the_row(field: str) -> None:
    row = sealed()
    changed = {"logged_at": WHEN + timedelta(microseconds=1), "tenant_id": None,
               "actor_id": "intruder", "table_name": "notes", "operation": "DELETE",
               "row_pk": "43", "changed_columns": ("name",), "prev_hash": "0" * 64,
               "txid": 901, "buffer_id": None}[field]
    assert not chain.row_ok(dataclasses.replace(row, **{field: changed}), KEY)


def test_the_id_is_not_hashed_so_a_moved_row_shows_as_a_broken_link() -> None:
    row = sealed()
    assert chain.row_ok(dataclasses.replace(row, id=8), KEY)
    follower = sealed(prev_hash=row.row_hash, id=8)
    assert chain.row_ok(follower, KEY)
    assert follower.prev_hash == row.row_hash       # the links carry the order


def test_legacy_rows_use_the_unkeyed_sql_hash() -> None:
    row = dataclasses.replace(sealed(), hash_alg=chain.LEGACY, txid=None, buffer_id=None)
    parts = ["7", "1796007600.123456", "t1", "app", "patients", "UPDATE", "42", "name,dob",
             chain.GENESIS]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    assert chain.expected_hash(row, KEY) == chain.legacy_hash(row) == digest
    assert chain.row_ok(dataclasses.replace(row, row_hash=digest), b"any key")
    assert not chain.row_ok(dataclasses.replace(row, row_hash=digest, id=8), KEY)


def test_timestamps_are_hashed_to_the_exact_microsecond() -> None:
    assert chain.micros(datetime(1970, 1, 1, 0, 0, 1, 1, tzinfo=UTC)) == 1_000_001
    late = datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)  # past float precision
    assert chain.micros(late) == 9_223_372_036_854_775


def test_the_key_id_names_a_key_without_revealing_it() -> None:
    kid = chain.key_id(KEY)
    assert len(kid) == 16 and kid == chain.key_id(KEY) != chain.key_id(KEY + b"x")
    assert KEY.hex()[:16] != kid


def test_a_database_row_tuple_becomes_a_chain_row() -> None:
    row = chain.ChainRow.from_db((5, WHEN, "1.5", None, "app", "t", "INSERT", None,
                                  ["a", "b"], "genesis", "h", "hmac-sha256", 77, None))
    assert (row.id, row.tenant_id, row.row_pk, row.changed_columns, row.txid,
            row.buffer_id) == (5, None, None, ("a", "b"), 77, None)
    assert chain.ChainRow.from_db((5, WHEN, "1.5", "t", "a", "t", "I", "1", None, "g", "h",
                                   "sha256", None, 3)).changed_columns == ()
