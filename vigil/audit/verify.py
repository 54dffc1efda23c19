"""The keyed verifier: the chain against the key and the checkpoint file.

Per row it checks the row's own hash (content + stored prev_hash) and its link (prev_hash equals
the previous row's row_hash), then classifies the first problems:

* altered   - the row's hash fails, its successor still links to it;
* inserted  - the row's hash fails and its successor links over it to the row before;
* removed   - a gap in ids, or a valid row whose prev_hash is not its predecessor's hash;
* rewritten - a checkpoint's (seq, hash) disagrees with the row (a tail recomputed after that
              checkpoint was written, with or without the key), or rows after the first keyed
              seq are no longer keyed (a downgrade to the unkeyed hash);
* truncated - the chain ends before the last checkpoint.

Incremental: from audit_verify_state (verified through seq N with hash H) minus a rolling
window, unless --full or a tripwire (n_tup_upd/n_tup_del on audit_log, the tamper log) says
already-verified rows were touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import psycopg

from vigil.audit import chain
from vigil.audit.checkpoints import Checkpoint

Conn = psycopg.Connection[tuple[object, ...]]
PAGE = 5000
ROLLING_WINDOW = 1000


@dataclass(frozen=True)
class Finding:
    seq: int
    kind: str  # altered | inserted | removed | rewritten | truncated
    detail: str


@dataclass
class Result:
    start: int = 0
    checked: int = 0
    head_seq: int = 0
    head_hash: str = chain.GENESIS
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return min(self.findings, key=lambda f: f.seq) if self.findings else None

    @property
    def good_through(self) -> int:
        """Highest seq below every finding (the incremental checkpoint)."""
        return self.head_seq if self.ok else max(0, min(f.seq for f in self.findings) - 1)


class Source(Protocol):
    """Where the rows come from: the database, or an exported segment (vigil.audit.export)."""

    def rows(self, after: int) -> Iterator[chain.ChainRow]: ...
    def row_at(self, seq: int) -> chain.ChainRow | None: ...
    def head(self) -> int: ...


class DbSource:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def rows(self, after: int) -> Iterator[chain.ChainRow]:
        last = after
        while True:
            page = self.conn.execute(f"SELECT {chain.ROW_COLUMNS} FROM vigil_monitor.audit_log "
                                     "WHERE id > %s ORDER BY id LIMIT %s", (last, PAGE)).fetchall()
            for r in page:
                row = chain.ChainRow.from_db(r)
                last = row.id
                yield row
            if len(page) < PAGE:
                return

    def row_at(self, seq: int) -> chain.ChainRow | None:
        r = self.conn.execute(f"SELECT {chain.ROW_COLUMNS} FROM vigil_monitor.audit_log "
                              "WHERE id = %s", (seq,)).fetchone()
        return chain.ChainRow.from_db(r) if r else None

    def head(self) -> int:
        row = self.conn.execute("SELECT coalesce(max(id), 0) "
                                "FROM vigil_monitor.audit_log").fetchone()
        return int(str(row[0])) if row else 0


def verify(src: Source, key: bytes, cps: list[Checkpoint], *, start: int = 0,
           progress: Callable[[int, int], None] | None = None) -> Result:
    """Verify rows with id > start (start 0: the whole chain from genesis)."""
    res = Result(start=start)
    prev_hash, expect = chain.GENESIS, start + 1
    seen_keyed = False  # legacy rows never follow a keyed row
    if start > 0:
        anchor = src.row_at(start)
        if anchor is None:
            return verify(src, key, cps, start=0, progress=progress)
        prev_hash = anchor.row_hash
        seen_keyed = anchor.hash_alg == chain.KEYED
    keyed_from = min((c.keyed_from for c in cps), default=None)
    total = src.head()
    pending: tuple[chain.ChainRow, str] | None = None  # a bad row waiting for its successor
    after_bad = False
    for row in src.rows(start):
        res.checked += 1
        after_bad = pending is not None
        if pending is not None:
            prev_hash = _classify_bad(res, *pending, row) or prev_hash
            pending = None
        if row.id != expect:
            res.findings.append(Finding(expect, "removed",
                                        f"rows {expect}..{row.id - 1} are missing"))
        if row.hash_alg == chain.KEYED:
            seen_keyed = True
        if (seen_keyed or (keyed_from is not None and row.id >= keyed_from)) \
                and row.hash_alg != chain.KEYED:
            res.findings.append(Finding(row.id, "rewritten", f"row {row.id} is no longer keyed "
                                        f"(downgraded to {row.hash_alg}): the tail was "
                                        "recomputed without the key"))
        elif not chain.row_ok(row, key):
            pending = (row, prev_hash)
        elif row.prev_hash != prev_hash and row.id == expect and not after_bad:
            res.findings.append(Finding(row.id, "removed", f"row {row.id} does not link to row "
                                        f"{row.id - 1}: rows were removed before it"))
        prev_hash, expect = row.row_hash, row.id + 1
        res.head_seq, res.head_hash = row.id, row.row_hash
        if progress and res.checked % PAGE == 0:
            progress(res.checked, total - start)
    if pending is not None:
        _classify_bad(res, *pending, None)
    res.findings = _collapse_tail(res.findings, res.head_seq)
    if res.checked == 0 and start > 0:
        res.head_seq, res.head_hash = start, prev_hash
    _against_checkpoints(src, res, cps, start)
    return res


def _classify_bad(res: Result, row: chain.ChainRow, before: str,
                  nxt: chain.ChainRow | None) -> str | None:
    """Record the bad ``row``; returns the hash its successor must link to when it is not
    the bad row's own (an inserted row is skipped over)."""
    if nxt is not None and nxt.prev_hash == before and nxt.prev_hash != row.row_hash:
        res.findings.append(Finding(row.id, "inserted", f"row {row.id} was inserted: its hash "
                                    "fails and the next row links over it"))
        return before
    res.findings.append(Finding(row.id, "altered", f"row {row.id} was altered: its hash does "
                                "not match its content (or was recomputed without the key)"))
    return None


def _collapse_tail(findings: list[Finding], head: int) -> list[Finding]:
    """A run of altered rows reaching the head is one finding: the tail was recomputed."""
    altered = sorted(f.seq for f in findings if f.kind == "altered")
    if len(altered) < 2 or altered[-1] != head:
        return findings
    run_start = head
    for seq in reversed(altered[:-1]):
        if seq != run_start - 1:
            break
        run_start = seq
    if run_start == head:
        return findings
    kept = [f for f in findings if not (f.kind == "altered" and f.seq >= run_start)]
    kept.append(Finding(run_start, "rewritten", f"rows {run_start}..{head} all fail their "
                        f"hash: the tail was recomputed from row {run_start} on without the key"))
    return kept


def _against_checkpoints(src: Source, res: Result, cps: list[Checkpoint], start: int) -> None:
    if not cps:
        return
    last = max(cps, key=lambda c: c.seq)
    head = src.head()
    if head < last.seq:
        res.findings.append(Finding(head + 1, "truncated", f"the chain ends at {head} but the "
                                    f"checkpoint file saw {last.seq}: rows were removed from "
                                    "the end"))
    for cp in cps:
        if cp.seq < start or cp.seq > head:
            continue
        row = src.row_at(cp.seq)
        if row is not None and row.row_hash != cp.hash:
            res.findings.append(Finding(cp.seq, "rewritten", f"row {cp.seq} disagrees with the "
                                        f"checkpoint of {cp.time}: the chain was rewritten at or "
                                        "before it"))
            return


# --- the state the read functions report -------------------------------------------------

def tup_changes(conn: Conn) -> int:
    """n_tup_upd + n_tup_del of audit_log, plus tamper-log rows: never legitimately > 0."""
    row = conn.execute(
        "SELECT coalesce((SELECT n_tup_upd + n_tup_del FROM pg_stat_all_tables "
        "WHERE relid = 'vigil_monitor.audit_log'::regclass), 0) "
        "+ (SELECT count(*) FROM vigil_monitor.audit_tamper_log)").fetchone()
    return int(str(row[0])) if row else 0


def saved_state(conn: Conn) -> tuple[int, int]:
    """(verified_through_seq, tup_changes) of the last run; (0, 0) before any."""
    row = conn.execute("SELECT verified_through_seq, tup_changes FROM "
                       "vigil_monitor.audit_verify_state WHERE singleton").fetchone()
    return (int(str(row[0])), int(str(row[1]))) if row else (0, 0)


def incremental_start(conn: Conn, full: bool) -> int:
    if full:
        return 0
    through, seen = saved_state(conn)
    if tup_changes(conn) != seen:
        return 0  # verified rows were touched: re-verify everything
    return max(0, through - ROLLING_WINDOW)


def save(conn: Conn, res: Result, changes: int) -> None:
    first = res.first
    through = res.good_through
    through_hash = res.head_hash if res.ok else None
    conn.execute(
        "INSERT INTO vigil_monitor.audit_verify_state AS s (singleton, verified_through_seq, "
        "verified_hash, verified_at, integrity_issues, first_broken_seq, tup_changes) "
        "VALUES (true, %s, %s, clock_timestamp(), %s, %s, %s) ON CONFLICT (singleton) DO UPDATE "
        "SET verified_through_seq = EXCLUDED.verified_through_seq, "
        "verified_hash = EXCLUDED.verified_hash, verified_at = EXCLUDED.verified_at, "
        "integrity_issues = EXCLUDED.integrity_issues, "
        "first_broken_seq = EXCLUDED.first_broken_seq, tup_changes = EXCLUDED.tup_changes",
        (through, through_hash, len(res.findings), first.seq if first else None, changes))


def run(conn: Conn, key: bytes, cps: list[Checkpoint], *, full: bool = False,
        progress: Callable[[int, int], None] | None = None, record: bool = True) -> Result:
    """One verification pass (incremental unless ``full``), recorded in audit_verify_state."""
    changes = tup_changes(conn)
    res = verify(DbSource(conn), key, cps, start=incremental_start(conn, full),
                 progress=progress)
    if record:
        save(conn, res, changes)
    return res
