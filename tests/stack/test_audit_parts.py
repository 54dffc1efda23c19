"""`vigil up`'s issue #16 parts: the audit sealer and the maintainer, structurally (their
commands live on other branches until merged; the live behaviour is in tests/e2e after it)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from vigil.stack.plan import (
    Layout,
    Ports,
    command_missing,
    demo_dsn,
    ensure_audit_key,
    maintainer_dsn,
    sealer_dsn,
)
from vigil.stack.runner import ORDER, Options, Stack


def _stack(tmp_path: Path) -> Stack:
    root = Path(__file__).resolve().parents[2]
    return Stack(Layout(root=root, state=tmp_path / "state"),
                 Options(ports=Ports(), admin_dsn="postgresql://admin@127.0.0.1:5432/postgres"),
                 say=lambda line: None)


def test_sealer_and_maintainer_are_parts_with_their_own_log_started_before_the_workload(
        tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    parts = stack.services(prepare=True)
    assert ORDER.index("sealer") < ORDER.index("workload")
    assert ORDER.index("maintainer") < ORDER.index("workload")
    sealer, maintainer = parts["sealer"], parts["maintainer"]
    key, dsn = stack.layout.audit_key_file, demo_dsn(stack.admin)
    assert "vigil_demo" in dsn
    # the sealer logs in as its own least-privileged role, never as the superuser
    assert sealer.argv[-8:] == (
        "audit", "seal", "--dsn", sealer_dsn(stack.admin),
        "--key-file", str(key), "--checkpoint-file", str(stack.layout.audit_checkpoint_file))
    assert maintainer.argv[-4:] == ("db", "maintain", "--dsn", maintainer_dsn(stack.admin))
    assert stack.layout.log("sealer") != stack.layout.log("maintainer")
    # the key goes by path only: its content is on no command line
    secret = key.read_text().strip()
    assert all(secret not in arg for svc in parts.values() for arg in svc.argv)


def test_the_audit_key_is_made_once_with_mode_0600_and_256_bits(tmp_path: Path) -> None:
    layout = Layout(root=tmp_path, state=tmp_path / "state")
    path = ensure_audit_key(layout)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text().strip()
    assert len(bytes.fromhex(first)) == 32
    assert ensure_audit_key(layout).read_text().strip() == first  # kept across `vigil up`s


def test_a_part_whose_command_is_not_built_is_skipped_with_the_reason(tmp_path: Path) -> None:
    assert command_missing(("db", "install"), "the installer") is None
    assert command_missing(("db", "no-such"), "x") == "x is not built yet (no `vigil db no-such`)"
    assert command_missing(("no-such", "cmd"), "y") is not None
    stack = _stack(tmp_path)
    for name, words in (("sealer", ("audit", "seal")), ("maintainer", ("db", "maintain"))):
        svc = stack.services()[name]
        built = command_missing(words, "x") is None
        assert (svc.missing is None) == built, name
        if not built:  # until issue #16's branches are merged
            assert f"`vigil {' '.join(words)}`" in (svc.missing or "")


def test_vigil_status_lists_the_sealer_and_maintainer(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "vigil.cli", "status", "--state-dir",
                          str(tmp_path / "state"), "--json"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert "sealer" in out.stdout and "maintainer" in out.stdout, out.stdout + out.stderr
