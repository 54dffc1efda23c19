"""Old segments leave the database and still verify with the key alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigil.cli import main

from .conftest import Audited


def _args(a: Audited, *argv: str) -> list[str]:
    key_file = a.checkpoint_file.parent / "key"
    key_file.write_bytes(a.key)
    return ["audit", *argv, "--dsn", a.dsn, "--key-file", str(key_file)]


def test_exported_segment_verifies_offline_and_an_edit_is_named(
        sealed_chain: Callable[[int], Audited], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    a = sealed_chain(10)
    out = tmp_path / "seg1"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert main(_args(a, "export", "--before", tomorrow, "--out", str(out),
                      "--checkpoint-file", str(a.checkpoint_file))) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["from_seq"], manifest["to_seq"], manifest["rows"]) == (1, 10, 10)
    assert (out / "checkpoints.jsonl").read_text().count("\n") >= 3
    capsys.readouterr()
    assert main(_args(a, "verify", "--offline", str(out))) == 0
    assert "intact" in capsys.readouterr().out
    # A later segment anchors on the previous one's last hash.
    seg2 = tmp_path / "seg2"
    assert main(_args(a, "export", "--before", tomorrow, "--out", str(seg2),
                      "--from-seq", "6")) == 0
    assert main(_args(a, "verify", "--offline", str(seg2))) == 0
    lines = (out / "rows.jsonl").read_text().splitlines()
    row = json.loads(lines[3])
    row["actor_id"] = "mallory"
    lines[3] = json.dumps(row)
    (out / "rows.jsonl").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(_args(a, "verify", "--offline", str(out))) == 1
    assert "BROKEN at seq 4 (altered)" in capsys.readouterr().out
