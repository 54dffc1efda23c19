"""Bring the stack up, take it down.

``Stack`` is the engine behind ``vigil up|down|status``: it starts the missing parts
(vigil/stack/parts.py says which and how) in order, waits for their health endpoints with a
deadline, records every process it started under ``STATE/run/`` and stops them again: by
process group, so nothing is left. What the running stack looks like is
vigil/stack/status.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from vigil.core import httpclient, pg
from vigil.core.errors import VigilError
from vigil.stack import procs, reconcile, status
from vigil.stack.logscan import why_failed
from vigil.stack.parts import ORDER, Options, Parts
from vigil.stack.plan import Layout, Service, Task
from vigil.stack.status import PartStatus

log = logging.getLogger("vigil.stack")

Say = Callable[[str], None]


class Stack:
    def __init__(self, layout: Layout, options: Options | None = None,
                 say: Say | None = None) -> None:
        self.layout = layout
        self.options = options or Options()
        self.say: Say = say or (lambda line: print(line, flush=True))
        self.records = procs.RecordStore(layout.run)
        self.started: list[str] = []  # by this object, in order (for Ctrl-C during start)
        # Each started part's log size before it started: its failure is read from there.
        self._log_start: dict[str, int] = {}
        # Each failed part and the log lines that say why (for `vigil up`'s summary).
        self.failures: dict[str, str] = {}

    # ---------------------------------------------------------------- the parts

    @property
    def parts(self) -> Parts:
        return Parts(self.layout, self.options)

    @property
    def admin(self) -> str:
        return self.parts.admin

    def tasks(self) -> list[Task]:
        return self.parts.tasks()

    def services(self, *, prepare: bool = False) -> dict[str, Service]:
        """Every long-running part. ``prepare`` writes the derived configs first."""
        return self.parts.services(prepare=prepare)

    # ---------------------------------------------------------------- up

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.layout.state.mkdir(parents=True, exist_ok=True)
        with (self.layout.state / "lock").open("w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.say("another `vigil up` or `vigil down` is working on "
                         f"{self.layout.state}; waiting for it")
                fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    def up(self) -> tuple[list[str], list[str]]:
        """Start what is not running. Returns (started, failed) service names."""
        with self._lock():
            began = time.time()
            for sub in (self.layout.run, self.layout.logs, self.layout.generated,
                        self.layout.data):
                sub.mkdir(parents=True, exist_ok=True)
            self.say(f"vigil stack: state and logs in {self.layout.state}")
            if self.options.only is None or "router" in self.options.only:
                self._ensure_postgres()
                self._ensure_databases()
            if self.options.only is None:
                for task in self.tasks():
                    self._run_task(task)
            services = self.services(prepare=True)
            env = self.parts.env()
            started: list[str] = []
            for name in ORDER:
                svc = services.get(name)
                if svc is None:
                    continue
                if svc.missing:
                    self.say(f"  skip  {name:<12} {svc.missing}")
                    continue
                record = self.records.load(name)
                if record is not None and procs.is_running(record):
                    state = ("healthy" if status.healthy(svc, self.records)
                             else "running, not healthy yet")
                    self.say(f"  keep  {name:<12} already running (pid {record.pid}, {state})")
                    continue
                busy = self._port_taken_by_stranger(svc)
                if busy:
                    self.say(f"  skip  {name:<12} {busy}")
                    continue
                log_path = self.layout.log(name)
                self._log_start[name] = log_path.stat().st_size if log_path.exists() else 0
                record = procs.spawn(name, svc.argv, self.layout.log(name), cwd=self.layout.root,
                                     env=env,
                                     die_with_parent=self.options.die_with_parent)
                self.records.save(record)
                started.append(name)
                self.started.append(name)
                self.say(f"  start {name:<12} pid {record.pid}, log {record.log_path}")
            failed = self._wait_healthy([services[n] for n in started])
            status.write_stack_file(self.layout, self.options.ports, services)
            if "prometheus" in started and "prometheus" not in failed:
                # A new Prometheus: the router's alerts that stopped firing while it was down
                # are resolved now (vigil/stack/reconcile.py), not after their stale_after.
                reconcile.after_up(self.layout, self.options.ports, began,
                                   min(self.options.health_timeout, 90.0), self.say)
            return started, failed

    def _ensure_postgres(self) -> None:
        if status.pg_ready(self.admin):
            self.say("  ok    postgres     reachable")
            return
        versions = sorted(Path("/etc/postgresql").glob("*/main")) if Path(
            "/etc/postgresql").is_dir() else []
        if not versions:
            raise StackError("PostgreSQL is not reachable and no local cluster is installed; "
                             "run scripts/bootstrap.sh or set VIGIL_ADMIN_DSN")
        version = versions[-1].parent.name
        self.say(f"  start postgres     PostgreSQL {version} was down; starting it")
        subprocess.run(  # noqa: S603 (fixed argv)
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],  # noqa: S607 (Debian tool on PATH)
            check=False, capture_output=True)
        deadline = time.monotonic() + 30
        while not status.pg_ready(self.admin):
            if time.monotonic() > deadline:
                raise StackError("PostgreSQL did not come up within 30 s; see "
                                 f"/var/log/postgresql/postgresql-{version}-main.log")
            time.sleep(0.5)
        (self.layout.state / "postgres-started-by-vigil").write_text(version)

    def _ensure_databases(self) -> None:
        if pg.ensure_database(self.admin, self.options.router_db):
            self.say("  ok    database     created the router's database")

    def _run_task(self, task: Task) -> None:
        if task.missing:
            self.say(f"  skip  {task.name:<12} {task.missing}")
            return
        log_path = self.layout.log(task.name)
        start = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as out:
            proc = subprocess.run(  # noqa: S603 (argv built by vigil)
                list(task.argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.layout.root, env=self.parts.env(), check=False, timeout=600)
        if proc.returncode != 0:
            raise StackError(f"{task.title} failed (exit {proc.returncode}); "
                             f"from {log_path}:\n{why_failed(log_path, start)}")
        self.say(f"  ok    {task.name:<12} {task.title}")

    def _port_taken_by_stranger(self, svc: Service) -> str | None:
        if svc.health_url is None:
            return None
        try:
            httpclient.request(svc.health_url, timeout=1.0)
        except httpclient.HttpError as exc:
            if exc.status is None:
                return None  # nothing answers: the port is free
        return (f"something not started by vigil already answers at {svc.health_url}; "
                "stop it or pick another port")

    def _wait_healthy(self, services: Sequence[Service]) -> list[str]:
        pending = {s.name: s for s in services}
        deadline = time.monotonic() + self.options.health_timeout
        failed: list[str] = []
        while pending:
            for name, svc in list(pending.items()):
                record = self.records.load(name)
                if record is None or not procs.is_running(record):
                    self._fail(name, "exited")
                    failed.append(name)
                    del pending[name]
                elif status.healthy(svc, self.records):
                    self.say(f"  ready {name:<12} {svc.url or ''}".rstrip())
                    del pending[name]
            if pending and time.monotonic() > deadline:
                for name in pending:
                    self._fail(name, f"not healthy after {self.options.health_timeout:.0f} s")
                failed.extend(pending)
                break
            if pending:
                time.sleep(0.25)
        return failed

    def _fail(self, name: str, what: str) -> None:
        log_path = self.layout.log(name)
        why = why_failed(log_path, self._log_start.get(name, 0))
        self.failures[name] = f"{what}; from {log_path}:\n{why}"
        self.say(f"  FAIL  {name:<12} {what} (why: below)")

    # ---------------------------------------------------------------- down

    def down(self, names: Sequence[str] | None = None) -> list[str]:
        """Stop recorded parts (all, or ``names``), newest first. Returns what was stopped."""
        with self._lock():
            stopped: list[str] = []
            wanted = list(names) if names is not None else self.records.names()
            ordered = [n for n in reversed(ORDER) if n in wanted]
            ordered += [n for n in wanted if n not in ordered]
            for name in ordered:
                record = self.records.load(name)
                if record is None:
                    continue
                if procs.stop(record):
                    stopped.append(name)
                    self.say(f"  stop  {name:<12} pid {record.pid}")
                self.records.remove(name)
            if names is None:
                self._stop_postgres_if_ours()
            return stopped

    def _stop_postgres_if_ours(self) -> None:
        marker = self.layout.state / "postgres-started-by-vigil"
        if not marker.is_file():
            return
        version = marker.read_text().strip()
        self.say(f"  stop  postgres     PostgreSQL {version} (vigil up started it)")
        subprocess.run(  # noqa: S603 (fixed argv)
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop"],  # noqa: S607 (Debian tool on PATH)
            check=False, capture_output=True)
        marker.unlink()

    # ---------------------------------------------------------------- status

    def urls(self) -> list[tuple[str, str]]:
        return status.urls(self.parts)

    def status(self) -> list[PartStatus]:
        return status.status(self.parts, self.records)

    def router_summary(self) -> dict[str, Any]:
        """Open alerts by severity and the next escalation due, from the router API."""
        return status.router_summary(self.layout, self.options.ports)


class StackError(VigilError):
    """The stack could not be brought up; the message says what to do."""

