from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

from support.polling import wait_for

from vigil.stack import procs


def test_stop_ends_the_whole_process_group_children_included(tmp_path: Path) -> None:
    record = procs.spawn("tree", ["bash", "-c", "sleep 300 & sleep 300 & wait"],
                         tmp_path / "tree.log", cwd=tmp_path)
    wait_for(lambda: len(procs.group_members(record.pgid)) == 3, timeout=10, interval=0.05)
    assert procs.is_running(record)

    assert procs.stop(record, timeout=5)

    assert procs.group_members(record.pgid) == []
    assert not procs.is_running(record)


def test_a_process_ignoring_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    record = procs.spawn("stubborn", ["bash", "-c", "trap '' TERM; while true; do sleep 0.1; done"],
                         tmp_path / "s.log", cwd=tmp_path)
    wait_for(lambda: procs.is_running(record), timeout=10, interval=0.05)
    started = time.monotonic()
    assert procs.stop(record, timeout=0.5)
    assert time.monotonic() - started < 5
    assert procs.group_members(record.pgid) == []


def test_a_recycled_pid_is_not_ours_and_is_never_signalled(tmp_path: Path) -> None:
    # Our own pid, recorded with another command line: alive, but not the part we started.
    fake = procs.ProcessRecord(name="x", pid=os.getpid(), pgid=os.getpgid(0),
                               argv=("/usr/bin/not-this",), log_path="", started_at=0)
    assert procs.pid_alive(fake.pid)
    assert not procs.is_running(fake)
    assert procs.stop(fake) is False  # and we are still here


def test_records_round_trip_and_survive_garbage(tmp_path: Path) -> None:
    store = procs.RecordStore(tmp_path / "run")
    record = procs.ProcessRecord(name="sink", pid=123, pgid=123, argv=("a", "b"),
                                 log_path="/x.log", started_at=1.5)
    store.save(record)
    assert store.load("sink") == record
    assert store.names() == ["sink"]
    (tmp_path / "run" / "bad.json").write_text("{not json")
    assert store.load("bad") is None
    store.remove("sink")
    assert store.load("sink") is None


def test_output_goes_to_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "echo.log"
    record = procs.spawn("echo", ["bash", "-c", "echo hello-from-child"], log, cwd=tmp_path)
    wait_for(lambda: "hello-from-child" in log.read_text(), timeout=10, interval=0.05)
    procs.stop(dataclasses.replace(record), timeout=1)


def test_a_dead_child_is_reaped_not_left_as_a_zombie(tmp_path: Path) -> None:
    record = procs.spawn("quick", ["bash", "-c", "exit 0"], tmp_path / "q.log", cwd=tmp_path)
    wait_for(lambda: not procs.is_running(record), timeout=10, interval=0.05)
    procs.stop(record, timeout=1)
    assert not Path(f"/proc/{record.pid}").exists() or not procs.pid_alive(record.pid)
    # Signalling a finished group is harmless.
    try:
        os.killpg(record.pgid, 0)
    except ProcessLookupError:
        pass
    else:  # pragma: no cover - only if reaping failed
        os.killpg(record.pgid, signal.SIGKILL)
