"""The append-only checkpoint file on the sealer's host: one JSON line per sealed batch.

Each line pins the chain head (seq, hash) at a moment, so whoever rewrites or truncates the
tail in the database (even recomputing hashes) disagrees with a line written before.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    time: str
    key_id: str
    keyed_from: int  # first seq written with the key: every row from it on must be keyed


def append(path: Path, cp: Checkpoint) -> None:
    line = json.dumps({"seq": cp.seq, "hash": cp.hash, "time": cp.time, "key_id": cp.key_id,
                       "keyed_from": cp.keyed_from}, separators=(",", ":")) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def read(path: Path | None) -> list[Checkpoint]:
    """Every complete line (a torn last line from a crash mid-write is skipped)."""
    if path is None or not path.exists():
        return []
    out: list[Checkpoint] = []
    for raw in path.read_text("utf-8").splitlines():
        try:
            d = json.loads(raw)
            out.append(Checkpoint(int(d["seq"]), str(d["hash"]), str(d["time"]),
                                  str(d["key_id"]), int(d["keyed_from"])))
        except (ValueError, KeyError, TypeError):
            continue
    return out
