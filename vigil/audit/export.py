"""``vigil audit export --before DATE --out DIR`` and ``vigil audit verify --offline DIR``.

A segment is a contiguous run of sealed rows (seq from..to, every row logged before DATE),
the checkpoint lines inside it and a manifest. The manifest carries the hash the first row
links to (the previous segment's last hash), file digests and an HMAC of itself, so the
segment verifies with the key alone, after the rows have left the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path

from vigil.audit import chain, checkpoints, verify
from vigil.audit.errors import AuditError

Conn = verify.Conn
ROWS, CPS, MANIFEST = "rows.jsonl", "checkpoints.jsonl", "manifest.json"


def _row_json(row: chain.ChainRow) -> str:
    d = asdict(row)
    d["logged_at"] = row.logged_at.isoformat()
    d["changed_columns"] = list(row.changed_columns)
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def _row_from(d: dict[str, object]) -> chain.ChainRow:
    cols = d["changed_columns"]
    fields = dict(d, logged_at=datetime.fromisoformat(str(d["logged_at"])),
                  changed_columns=tuple(cols) if isinstance(cols, list) else ())
    return chain.ChainRow(**fields)  # type: ignore[arg-type]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sign(key: bytes, manifest: dict[str, object]) -> str:
    body = json.dumps({k: v for k, v in manifest.items() if k != "hmac"}, sort_keys=True)
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def export(conn: Conn, key: bytes, cps: list[checkpoints.Checkpoint], *, before: datetime,
           out: Path, from_seq: int = 1) -> dict[str, object]:
    """Write the segment from ``from_seq`` up to the last row logged before ``before``."""
    row = conn.execute("SELECT coalesce(max(id), 0) FROM vigil_monitor.audit_log "
                       "WHERE logged_at < %s AND id >= %s", (before, from_seq)).fetchone()
    to_seq = int(str(row[0])) if row else 0
    if to_seq < from_seq:
        raise AuditError(f"no sealed audit rows from seq {from_seq} logged before {before}")
    src = verify.DbSource(conn)
    anchor = src.row_at(from_seq - 1)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with (out / ROWS).open("w", encoding="utf-8") as fh:
        for r in src.rows(from_seq - 1):
            if r.id > to_seq:
                break
            fh.write(_row_json(r) + "\n")
            n += 1
    with (out / CPS).open("w", encoding="utf-8") as fh:
        for cp in cps:
            if from_seq <= cp.seq <= to_seq:
                fh.write(json.dumps(asdict(cp), separators=(",", ":")) + "\n")
    manifest: dict[str, object] = {
        "from_seq": from_seq, "to_seq": to_seq, "rows": n, "before": before.isoformat(),
        "prev_hash": anchor.row_hash if anchor else chain.GENESIS,
        "prev_alg": anchor.hash_alg if anchor else chain.LEGACY,
        "rows_sha256": _digest(out / ROWS), "checkpoints_sha256": _digest(out / CPS),
        "key_id": chain.key_id(key)}
    manifest["hmac"] = _sign(key, manifest)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


class _Segment:
    def __init__(self, rows: list[chain.ChainRow], anchor: chain.ChainRow | None) -> None:
        self.by_seq = {r.id: r for r in rows}
        self.rows_list = rows
        self.anchor = anchor

    def rows(self, after: int) -> Iterator[chain.ChainRow]:
        return (r for r in self.rows_list if r.id > after)

    def row_at(self, seq: int) -> chain.ChainRow | None:
        if self.anchor is not None and seq == self.anchor.id:
            return self.anchor
        return self.by_seq.get(seq)

    def head(self) -> int:
        return self.rows_list[-1].id if self.rows_list else 0


def verify_offline(key: bytes, folder: Path) -> verify.Result:
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
        lines = (folder / ROWS).read_text("utf-8").splitlines()
    except (OSError, ValueError) as exc:
        raise AuditError(f"{folder} is not a readable audit export: {exc}") from None
    if not hmac.compare_digest(_sign(key, manifest), str(manifest.get("hmac", ""))):
        raise AuditError("the export's manifest does not match the key (edited, or another key)")
    rows = [_row_from(json.loads(line)) for line in lines]
    first = int(manifest["from_seq"])
    anchor = None
    if first > 1 and rows:
        anchor = replace(rows[0], id=first - 1, row_hash=str(manifest["prev_hash"]),
                         hash_alg=str(manifest["prev_alg"]))
    res = verify.verify(_Segment(rows, anchor), key, checkpoints.read(folder / CPS),
                        start=first - 1)
    # Row-level findings name the row; the digest only speaks when they found nothing.
    if res.ok and (_digest(folder / ROWS) != manifest["rows_sha256"]
                   or res.checked != manifest["rows"]):
        res.findings.append(verify.Finding(first, "altered", "rows.jsonl differs from the "
                                           "manifest (rows edited, added or removed)"))
    return res
