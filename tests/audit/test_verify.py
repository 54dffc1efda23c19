"""`vigil audit verify` names the first bad row and what happened to it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import replace

import pytest
from pghelpers import one, query, wait_for

from vigil.audit import chain, verify
from vigil.cli import main
from vigil.core import pg

from .conftest import KEY, Audited, tamper


def _verify(a: Audited, key: bytes = KEY, full: bool = True) -> verify.Result:
    with pg.connect(a.dsn) as conn:
        return verify.run(conn, key, a.checkpoints(), full=full)


def _first(a: Audited) -> tuple[int, str]:
    res = _verify(a)
    assert res.first is not None, "the verifier found nothing"
    return res.first.seq, res.first.kind


def test_intact_chain_verifies_and_the_cli_says_so(
        sealed_chain: Callable[[int], Audited], capsys: pytest.CaptureFixture[str]) -> None:
    a = sealed_chain(10)
    assert _verify(a).ok and _verify(a).head_seq == 10
    assert len(a.checkpoints()) >= 3  # one line per sealed batch of 4
    assert one(a.dsn, "SELECT head_seq, verified_through_seq, integrity_issues "
               "FROM vigil_monitor.audit_chain_status()") == (10, 10, 0)
    assert _cli(a) == 0 and "intact" in capsys.readouterr().out
    wrong = _verify(a, key=b"another-key-0123456789").first
    assert wrong is not None and (wrong.seq, wrong.kind) == (1, "rewritten")


def _cli(a: Audited, *extra: str) -> int:
    key_file = a.checkpoint_file.parent / "key"
    key_file.write_bytes(a.key)
    return main(["audit", "verify", "--dsn", a.dsn, "--key-file", str(key_file),
                 "--checkpoint-file", str(a.checkpoint_file), *extra])


def test_altered_row_is_named(sealed_chain: Callable[[int], Audited],
                              capsys: pytest.CaptureFixture[str]) -> None:
    a = sealed_chain(10)
    tamper(a.dsn, "UPDATE vigil_monitor.audit_log SET actor_id = 'mallory' WHERE id = 5")
    assert _first(a) == (5, "altered")
    assert _cli(a, "--full") == 1
    assert "BROKEN at seq 5 (altered)" in capsys.readouterr().out


def test_removed_row_is_named(sealed_chain: Callable[[int], Audited]) -> None:
    a = sealed_chain(10)
    tamper(a.dsn, "DELETE FROM vigil_monitor.audit_log WHERE id = 5")
    assert _first(a) == (5, "removed")
    # Renumbering the rest to hide the gap does not help: row 5 no longer links to row 4.
    tamper(a.dsn, "UPDATE vigil_monitor.audit_log SET id = id - 1 WHERE id > 5")
    assert _first(a) == (5, "removed")


def test_inserted_row_is_named(sealed_chain: Callable[[int], Audited]) -> None:
    a = sealed_chain(10)
    prev = one(a.dsn, "SELECT row_hash FROM vigil_monitor.audit_log WHERE id = 4")[0]
    tamper(a.dsn, "UPDATE vigil_monitor.audit_log SET id = id + 100 WHERE id >= 5",
           "UPDATE vigil_monitor.audit_log SET id = id - 99 WHERE id >= 105")
    tamper(a.dsn, "INSERT INTO vigil_monitor.audit_log (id, logged_at, actor_id, table_name, "
           "operation, prev_hash, row_hash, hash_alg) VALUES (5, now(), 'mallory', "
           "'public.items', 'DELETE', %s, repeat('0', 64), 'hmac-sha256')", params=(prev,))
    assert _first(a) == (5, "inserted")


def _recompute_from(a: Audited, start: int, sign: Callable[[chain.ChainRow, str], tuple[str, str]]
                    ) -> None:
    """Alter row ``start`` and re-link every later row, as a superuser without the key."""
    tamper(a.dsn, "UPDATE vigil_monitor.audit_log SET actor_id = 'mallory' WHERE id = %s",
           params=(start,))
    rows = [chain.ChainRow.from_db(r) for r in query(
        a.dsn, f"SELECT {chain.ROW_COLUMNS} FROM vigil_monitor.audit_log WHERE id >= %s "
        "ORDER BY id", (start - 1,))]
    prev = rows[0].row_hash
    for row in rows[1:]:
        alg, h = sign(row, prev)
        tamper(a.dsn, "UPDATE vigil_monitor.audit_log SET prev_hash = %s, row_hash = %s, "
               "hash_alg = %s WHERE id = %s", params=(prev, h, alg, row.id))
        prev = h


def _unkeyed(row: chain.ChainRow, prev: str) -> tuple[str, str]:
    return chain.LEGACY, chain.legacy_hash(replace(row, prev_hash=prev))


def _wrong_key(row: chain.ChainRow, prev: str) -> tuple[str, str]:
    body = f"{row.actor_id}|{prev}".encode()
    return chain.KEYED, hmac.new(b"guessed-key", body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("sign", [_unkeyed, _wrong_key], ids=["unkeyed", "wrong-key"])
def test_chain_recomputed_from_an_altered_row_is_caught(
        sealed_chain: Callable[[int], Audited],
        sign: Callable[[chain.ChainRow, str], tuple[str, str]]) -> None:
    a = sealed_chain(10)
    _recompute_from(a, 6, sign)
    # Every link is consistent again; only the key (or the checkpoints) can tell.
    assert one(a.dsn, "SELECT count(*) FROM (SELECT prev_hash IS DISTINCT FROM "
               "lag(row_hash) OVER (ORDER BY id) AS bad FROM vigil_monitor.audit_log) s "
               "WHERE bad")[0] == 1  # only row 1 (genesis) differs from its lag
    assert _first(a) == (6, "rewritten")
    a.checkpoint_file.unlink()  # without the checkpoint file the key alone still catches it
    assert _first(a) == (6, "rewritten")


def test_tail_rewritten_with_the_key_is_caught_against_the_checkpoint_file(
        sealed_chain: Callable[[int], Audited]) -> None:
    a = sealed_chain(10)

    def with_key(row: chain.ChainRow, prev: str) -> tuple[str, str]:
        return chain.KEYED, chain.expected_hash(replace(row, prev_hash=prev), KEY)

    _recompute_from(a, 9, with_key)  # row 9 altered then re-signed: HMACs valid from 10 on
    tamper(a.dsn, "UPDATE vigil_monitor.audit_log SET row_hash = %s WHERE id = 9",
           params=(chain.expected_hash(chain.ChainRow.from_db(one(
               a.dsn, f"SELECT {chain.ROW_COLUMNS} FROM vigil_monitor.audit_log WHERE id = 9")),
               KEY),))
    _recompute_from_links(a, 10)
    res = _verify(a)
    assert [(f.seq, f.kind) for f in res.findings] == [(10, "rewritten")]  # the checkpoint at 10


def _recompute_from_links(a: Audited, start: int) -> None:
    rows = [chain.ChainRow.from_db(r) for r in query(
        a.dsn, f"SELECT {chain.ROW_COLUMNS} FROM vigil_monitor.audit_log WHERE id >= %s "
        "ORDER BY id", (start - 1,))]
    prev = rows[0].row_hash
    for row in rows[1:]:
        h = chain.expected_hash(replace(row, prev_hash=prev), KEY)
        tamper(a.dsn, "UPDATE vigil_monitor.audit_log SET prev_hash = %s, row_hash = %s "
               "WHERE id = %s", params=(prev, h, row.id))
        prev = h


def test_truncated_tail_is_caught_against_the_checkpoint_file(
        sealed_chain: Callable[[int], Audited]) -> None:
    a = sealed_chain(10)
    tamper(a.dsn, "DELETE FROM vigil_monitor.audit_log WHERE id > 7")
    assert _first(a) == (8, "truncated")


def test_verification_is_incremental_and_rechecks_verified_rows_once_touched(
        sealed_chain: Callable[[int], Audited], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "ROLLING_WINDOW", 2)
    a = sealed_chain(10)
    assert _verify(a, full=False).start == 0
    first = _verify(a, full=False)
    assert first.ok and first.start == 8 and first.checked == 2
    tamper(a.dsn, "ALTER TABLE vigil_monitor.audit_log DISABLE TRIGGER audit_log_tripwire")
    tamper(a.dsn, "UPDATE vigil_monitor.audit_log SET actor_id = 'mallory' WHERE id = 2")
    # The tripwire trigger is off; the table's update counter still moves, so the next run
    # re-verifies from genesis (statistics arrive asynchronously: poll).
    res = wait_for(lambda: _verify(a, full=False), lambda r: not r.ok, timeout=20)
    assert res.start == 0 and res.first is not None
    assert (res.first.seq, res.first.kind) == (2, "altered")
    assert one(a.dsn, "SELECT integrity_issues, first_broken_seq FROM "
               "vigil_monitor.audit_chain_status()") == (1, 2)
