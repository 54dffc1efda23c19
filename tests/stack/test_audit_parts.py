"""`vigil up`'s issue #16 parts: the audit sealer and the maintainer, structurally (the live
stacks of tests/rules, tests/dashboards and tests/e2e run them for real)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from vigil.stack.parts import ORDER, Options
from vigil.stack.plan import (
    Layout,
    Ports,
    demo_dsn,
    ensure_audit_key,
    maintainer_dsn,
    sealer_dsn,
)
from vigil.stack.runner import Stack


def _stack(tmp_path: Path) -> Stack:
    root = Path(__file__).resolve().parents[2]
    return Stack(Layout(root=root, state=tmp_path / "state"),
                 Options(ports=Ports.of(), admin_dsn="postgresql://admin@127.0.0.1:5432/postgres"),
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


def test_the_sealer_and_maintainer_always_run(tmp_path: Path) -> None:
    """Their commands are part of vigil now: neither is ever skipped as "not built"."""
    parts = _stack(tmp_path).services()
    assert parts["sealer"].missing is None
    assert parts["maintainer"].missing is None


def test_vigil_status_lists_the_sealer_and_maintainer(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "vigil.cli", "status", "--state-dir",
                          str(tmp_path / "state"), "--json"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert "sealer" in out.stdout and "maintainer" in out.stdout, out.stdout + out.stderr
