"""Process supervision: spawn each part in its own process group, remember it, stop it.

Each running part has a record ``run/NAME.json`` in the state folder with its
pid, process group, command line and log file. A record counts as running only
if that pid is alive *and* still runs the same command line (a recycled pid is
not ours). Stopping sends SIGTERM to the whole process group, waits, then
SIGKILLs what is left, so children of children go too.

A part spawned with ``die_with_parent`` also ends when the process that started it dies,
however it dies (``die_with_parent_preexec``): a foreground ``vigil up`` and every test stack or
test server, so a killed run leaves nothing answering on its ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

log = logging.getLogger("vigil.stack")

_PR_SET_PDEATHSIG = 1


@dataclasses.dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    pgid: int
    argv: tuple[str, ...]
    log_path: str
    started_at: float

    def to_json(self) -> dict[str, object]:
        doc = dataclasses.asdict(self)
        doc["argv"] = list(self.argv)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> ProcessRecord:
        argv = doc["argv"]
        assert isinstance(argv, list)
        return cls(name=str(doc["name"]), pid=int(str(doc["pid"])), pgid=int(str(doc["pgid"])),
                   argv=tuple(str(a) for a in argv), log_path=str(doc["log_path"]),
                   started_at=float(str(doc["started_at"])))


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state is the first field after the parenthesised command name.
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def is_running(record: ProcessRecord) -> bool:
    """Alive and still the command we started (pids get recycled)."""
    if not pid_alive(record.pid):
        return False
    cmd = _cmdline(record.pid)
    return cmd is not None and tuple(cmd) == record.argv


def _live_processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every live, non-zombie process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        # fields: state ppid pgrp ...
        if len(fields) > 2 and fields[0] not in ("Z", "X"):
            yield int(entry.name), int(fields[1]), int(fields[2])


def group_members(pgid: int) -> list[int]:
    """Live, non-zombie pids in process group ``pgid``."""
    return [pid for pid, _, group in _live_processes() if group == pgid]


def children(ppid: int) -> list[int]:
    """Live, non-zombie children of ``ppid``."""
    return [pid for pid, parent, _ in _live_processes() if parent == ppid]


def _ask_pdeathsig(prctl: Callable[..., int], parent: int) -> None:
    """SIGTERM to this process when its parent dies; exit now if ``parent`` already has."""
    if prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM)) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it died before prctl: no signal would come
        os._exit(1)


def _prctl() -> Callable[..., int]:
    prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


def die_with_parent_preexec() -> Callable[[], None]:
    """A ``preexec_fn`` that ties the child to this process: it gets SIGTERM when this process
    dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG).

    Linux sends it when the *thread* that forked the child ends, not the process, so only the
    main thread, which lives as long as the process, may fork such a child: a worker thread's
    child would be killed when that thread finishes, long before the test or `vigil up` is.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("a child that dies with its parent must be started from the main "
                           "thread: PR_SET_PDEATHSIG fires when the forking thread ends")
    # Looked up before the fork: the child, between fork and exec, only calls it.
    return functools.partial(_ask_pdeathsig, _prctl(), os.getpid())


def die_with_parent_now() -> None:
    """Tie this process to its parent, as ``die_with_parent_preexec`` ties a child (a
    pytest-xdist worker to the pytest its main thread started it from)."""
    _ask_pdeathsig(_prctl(), os.getppid())


def spawn(name: str, argv: Sequence[str], log_path: Path, *, cwd: Path,
          env: Mapping[str, str] | None = None, die_with_parent: bool = False) -> ProcessRecord:
    """Start ``argv`` in a new session (so its own process group), output to ``log_path``;
    with ``die_with_parent`` it ends when this process dies (``die_with_parent_preexec``)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n".encode())
        out.flush()
        preexec = die_with_parent_preexec() if die_with_parent else None
        proc = subprocess.Popen(  # noqa: S603 (argv is built by vigil, never by a shell)
            list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=cwd, env=dict(env) if env is not None else None, start_new_session=True,
            preexec_fn=preexec)  # noqa: PLW1509 (only prctl, no locks taken)
    # Resolve the argv as /proc shows it (the interpreter may rewrite argv[0]).
    cmd = None
    for _ in range(50):
        cmd = _cmdline(proc.pid)
        if cmd:
            break
        time.sleep(0.01)
    return ProcessRecord(name=name, pid=proc.pid, pgid=proc.pid, argv=tuple(cmd or argv),
                         log_path=str(log_path), started_at=time.time())


def stop(record: ProcessRecord, timeout: float = 10.0) -> bool:
    """SIGTERM the process group, wait up to ``timeout``, then SIGKILL. True if it was ours."""
    if not pid_alive(record.pid) and not group_members(record.pgid):
        return False
    if pid_alive(record.pid) and not is_running(record):
        log.warning("pid no longer ours, not signalling", extra={"f_name": record.name})
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not group_members(record.pgid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and group_members(record.pgid):
        _reap(record.pid)
        time.sleep(0.05)
    return True


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


class RecordStore:
    """``run/NAME.json`` files in the state folder."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def _path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def save(self, record: ProcessRecord) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._path(record.name).with_suffix(".tmp")
        tmp.write_text(json.dumps(record.to_json(), indent=2))
        tmp.replace(self._path(record.name))

    def load(self, name: str) -> ProcessRecord | None:
        try:
            return ProcessRecord.from_json(json.loads(self._path(name).read_text()))
        except (OSError, ValueError, KeyError, AssertionError):
            return None

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()

    def names(self) -> list[str]:
        if not self.run_dir.is_dir():
            return []
        return sorted(p.stem for p in self.run_dir.glob("*.json"))
