"""`vigil up --detach` for tests, without orphans if the test run is killed.

Its parts outlive the command by design, so nothing ties them to the test. ``run(argv)`` runs
the command under a tether: a small process that dies with the test (support.polling.child),
adopts whatever the command leaves running (PR_SET_CHILD_SUBREAPER: the detached parts become
its children when the command exits) and, when the test dies, ends all of it. Otherwise it
exits on its own once everything it adopted has ended (after `vigil down`); ``end_all()``
ends the tethers a test leaves.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from vigil.stack import procs

_PR_SET_CHILD_SUBREAPER = 36
_EXIT = "tether: the command exited with "
_tethers: list[subprocess.Popen[str]] = []


def run(argv: Sequence[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` tethered; its output (stdout and stderr together) and exit status."""
    from support.polling import child  # not in the tether process itself

    tether = child([sys.executable, str(Path(__file__)), str(timeout), *argv],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _tethers.append(tether)
    assert tether.stdout is not None
    out = tether.stdout.read()  # to EOF: the tether closes it once the command is done
    said, _, code = out.rpartition(_EXIT)
    if not code.strip().lstrip("-").isdigit():
        raise AssertionError(f"the tether failed: {out}")
    return subprocess.CompletedProcess(list(argv), int(code), said, "")


def end_all() -> None:
    """End every tether (and whatever it still holds) this test process started."""
    while _tethers:
        tether = _tethers.pop()
        if tether.poll() is None:
            tether.terminate()
        tether.wait(timeout=30)


def _end_adopted(signum: int, frame: FrameType | None) -> None:
    """The test died (or end_all): kill every child, adopted ones included, until none."""
    own_group = os.getpgid(0)
    while True:
        for pid in procs.children(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                group = os.getpgid(pid)
                # A detached part leads its own group; the command shares ours (the test's).
                if group == own_group:
                    os.kill(pid, signal.SIGKILL)
                else:
                    os.killpg(group, signal.SIGKILL)
        try:
            os.wait()  # a killed command's children are ours before its exit is reported
        except ChildProcessError:
            os._exit(0)


def _main(timeout: float, argv: list[str]) -> None:
    prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
    if prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1)) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    signal.signal(signal.SIGTERM, _end_adopted)
    try:
        code = subprocess.run(argv, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        print(f"tether: {argv} still ran after {timeout:g} s", flush=True)
        code = 124
    print(f"{_EXIT}{code}", flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    while True:  # reap what was adopted as it ends; exit when nothing is left
        try:
            os.wait()
        except ChildProcessError:
            return


if __name__ == "__main__":
    _main(float(sys.argv[1]), sys.argv[2:])
