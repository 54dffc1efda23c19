"""Bring the stack up, report on it, take it down.

``Stack`` is the engine behind ``vigil up|down|status``: it knows the parts
(``parts()``), starts the missing ones in order, waits for their health
endpoints with a deadline, records every process it started under
``STATE/run/`` and stops them again: by process group, so nothing is left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from vigil.core import httpclient, pg
from vigil.core.errors import VigilError
from vigil.core.secrets import redact_dsn
from vigil.stack import procs
from vigil.stack.logscan import why_failed
from vigil.stack.plan import (
    ALERTMANAGER_BIN,
    PROMETHEUS_BIN,
    ROUTER_DB,
    Layout,
    Ports,
    Service,
    Task,
    binary_missing,
    derive_alertmanager,
    derive_generic,
    derive_prometheus,
    derive_router,
    ensure_audit_key,
    ensure_console,
    ensure_token,
    exporter_dsn,
    file_missing,
    maintainer_argv,
    maintainer_dsn,
    module_missing,
    reporter_argv,
    router_dsn,
    sealer_argv,
    sealer_dsn,
    vigil_cmd,
)

log = logging.getLogger("vigil.stack")

Say = Callable[[str], None]

# Start order; stop order is the reverse.
# The sealer and maintainer start before the workload, so its audit rows never wait long.
# The reporter asks Prometheus, so it starts last (it retries until Prometheus answers).
ORDER: tuple[str, ...] = ("sink", "router", "exporter", "sealer", "maintainer", "workload",
                          "alertmanager", "prometheus", "reporter")


@dataclasses.dataclass(frozen=True)
class Options:
    """What ``vigil up`` may vary; the defaults are the documented native stack."""

    ports: Ports = dataclasses.field(default_factory=Ports.of)
    admin_dsn: str | None = None
    with_workload: bool = True
    only: tuple[str, ...] | None = None     # run just these parts (and no set-up tasks)
    workload_args: tuple[str, ...] = ()
    escalation: Path | None = None          # another matrix (the e2e test's short one)
    rule_files: tuple[str, ...] | None = None  # another rule set (compressed timings)
    prometheus_overrides: Callable[[dict[str, Any]], None] | None = None
    alertmanager_overrides: Callable[[dict[str, Any]], None] | None = None
    exporter_overrides: Callable[[dict[str, Any]], None] | None = None
    health_timeout: float = 120.0
    extra_env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    demo_db: str = pg.DEFAULT_DEMO_DB       # the test stacks use private databases
    router_db: str = ROUTER_DB


@dataclasses.dataclass(frozen=True)
class PartStatus:
    name: str
    title: str
    state: str               # running, stopped, dead, skipped
    healthy: bool | None     # None: no health check (not running)
    pid: int | None
    url: str | None
    detail: str = ""


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
    def admin(self) -> str:
        return self.options.admin_dsn or pg.admin_dsn()

    def _env(self) -> dict[str, str]:
        ports = self.options.ports
        env = dict(os.environ)
        env.update({
            "VIGIL_ROUTER_TOKEN": ensure_token(self.layout),
            "VIGIL_ROUTER_DSN": router_dsn(self.admin, self.options.router_db),
            "VIGIL_SINK_URL": f"http://127.0.0.1:{ports.sink}",
            "VIGIL_ADMIN_DSN": self.admin,
            "PYTHONUNBUFFERED": "1",
            **ensure_console(self.layout),
        })
        exporter = exporter_dsn(self.admin, self.options.demo_db)
        if exporter:
            env["VIGIL_EXPORTER_DSN"] = exporter
        env.update(self.options.extra_env)
        return env

    def tasks(self) -> list[Task]:
        # `vigil demo setup` creates the demo database and installs the monitoring schema
        # (vigil_monitor) and the exporter's role into it; it is idempotent.
        return [Task("demo-setup", "monitoring schema + demo database (vigil demo setup)",
                     vigil_cmd("demo", "setup", "--admin-dsn", self.admin,
                               "--db", self.options.demo_db),
                     module_missing("vigil.demo.cli", "the demo application (vigil demo)"))]

    def services(self, *, prepare: bool = False) -> dict[str, Service]:
        """Every long-running part. ``prepare`` writes the derived configs first."""
        lay, ports, root = self.layout, self.options.ports, self.layout.root
        gen = lay.generated

        sink = Service("sink", "notification sink", vigil_cmd(
            "sink", "--port", str(ports.sink), "--record", str(lay.state / "pages.jsonl")),
            f"http://127.0.0.1:{ports.sink}/-/healthy", f"http://127.0.0.1:{ports.sink}/")

        router_src = root / "config" / "router.yml"
        router_missing = (module_missing("router.cli", "the router")
                          or file_missing(router_src, "the router config"))
        router_cfg = gen / "router.yml"
        if prepare and not router_missing:
            derive_router(router_src, router_cfg, ports, self.options.escalation)
        router = Service("router", "router API", vigil_cmd("router", "--config", str(router_cfg)),
                         f"http://127.0.0.1:{ports.router}/-/ready",
                         f"http://127.0.0.1:{ports.router}/api/v1/alerts",
                         missing=router_missing)

        exporter_src = root / "config" / "exporter.yml"
        exporter_missing = (module_missing("exporter.cli", "the exporter")
                            or file_missing(exporter_src, "the exporter config"))
        exporter_cfg = gen / "exporter.yml"
        if prepare and not exporter_missing:
            derive_generic(exporter_src, exporter_cfg, ports,
                           {"state_dir": str(lay.state / "exporter")},
                           self.options.exporter_overrides)
        exporter = Service("exporter", "exporter metrics",
                           vigil_cmd("exporter", "--config", str(exporter_cfg),
                                     "--web.listen-address", f"127.0.0.1:{ports.exporter}"),
                           f"http://127.0.0.1:{ports.exporter}/-/healthy",
                           f"http://127.0.0.1:{ports.exporter}/metrics",
                           missing=exporter_missing)

        workload = Service("workload", "demo workload",
                           vigil_cmd("demo", "load", "--admin-dsn", self.admin,
                                     "--db", self.options.demo_db,
                                     *(self.options.workload_args or ("--duration", "0",
                                                                      "--rate", "10"))),
                           None, None,
                           missing=module_missing("vigil.demo.cli",
                                                  "the demo workload (vigil demo load)"))

        sealer, maintainer = self._audit_parts(prepare=prepare)

        am_src = root / "prometheus" / "alertmanager.yml"
        am_missing = (binary_missing(ALERTMANAGER_BIN, "prometheus-alertmanager")
                      or file_missing(am_src, "the Alertmanager config"))
        am_cfg = gen / "alertmanager.yml"
        if prepare and not am_missing:
            derive_alertmanager(am_src, am_cfg, ports, lay.token_file,
                                self.options.alertmanager_overrides)
        alertmanager = Service("alertmanager", "Alertmanager API", (
            ALERTMANAGER_BIN, f"--config.file={am_cfg}",
            f"--storage.path={lay.data / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{ports.alertmanager}",
            f"--web.external-url=http://127.0.0.1:{ports.alertmanager}/",
            "--cluster.listen-address="),  # no gossip port: a single local instance
            f"http://127.0.0.1:{ports.alertmanager}/-/ready",
            # Debian's package ships no web UI (its / says so): the API lists the alerts.
            f"http://127.0.0.1:{ports.alertmanager}/api/v2/alerts", missing=am_missing)

        prom_src = root / "prometheus" / "prometheus.yml"
        prom_missing = (binary_missing(PROMETHEUS_BIN, "prometheus")
                        or file_missing(prom_src, "the Prometheus config"))
        prom_cfg = gen / "prometheus.yml"
        if prepare and not prom_missing:
            derive_prometheus(prom_src, prom_cfg, ports,
                              list(self.options.rule_files)
                              if self.options.rule_files is not None else None,
                              self.options.prometheus_overrides)
        prometheus = Service("prometheus", "Prometheus alerts", (
            PROMETHEUS_BIN, f"--config.file={prom_cfg}",
            f"--storage.tsdb.path={lay.data / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{ports.prometheus}",
            # Alert links (generatorURL) name the address Prometheus listens on, not the
            # machine's hostname, so they open from the pages and the router.
            f"--web.external-url=http://127.0.0.1:{ports.prometheus}/",
            "--storage.tsdb.retention.time=2d", "--web.enable-lifecycle"),
            f"http://127.0.0.1:{ports.prometheus}/-/ready",
            # Debian's 2.42 serves the classic UI: /alerts answers 404, /classic/alerts works.
            f"http://127.0.0.1:{ports.prometheus}/classic/alerts", missing=prom_missing)

        reporter = Service("reporter", "daily report + hourly metrics verify",
                           reporter_argv(lay.state / "reports",
                                         f"http://127.0.0.1:{ports.prometheus}",
                                         f"127.0.0.1:{ports.reporter}"),
                           f"http://127.0.0.1:{ports.reporter}/-/healthy",
                           f"http://127.0.0.1:{ports.reporter}/metrics")

        parts = {s.name: s for s in (sink, router, exporter, sealer, maintainer, workload,
                                     alertmanager, prometheus, reporter)}
        if not self.options.with_workload:
            parts.pop("workload")
        if self.options.only is not None:
            parts = {n: s for n, s in parts.items() if n in self.options.only}
        return parts

    def _audit_parts(self, *, prepare: bool) -> tuple[Service, Service]:
        """Issue #16: `vigil audit seal` chains the demo database's audit buffer with the
        stack's key file; `vigil db maintain` keeps its rollups and retention. Healthy means
        running (like the workload); the exporter's audit_pipeline metrics say how well."""
        lay, db = self.layout, self.options.demo_db
        if prepare:
            ensure_audit_key(lay)
        sealer = Service("sealer", "audit sealer (vigil audit seal)",
                         sealer_argv(sealer_dsn(self.admin, db), lay.audit_key_file,
                                     lay.audit_checkpoint_file), None, None)
        maintainer = Service("maintainer", "rollups + retention (vigil db maintain)",
                             maintainer_argv(maintainer_dsn(self.admin, db)), None, None)
        return sealer, maintainer

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

    def up(self, *, tie_to_parent: bool = False) -> tuple[list[str], list[str]]:
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
            env = self._env()
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
                    state = "healthy" if self._healthy(svc) else "running, not healthy yet"
                    self.say(f"  keep  {name:<12} already running (pid {record.pid}, {state})")
                    continue
                busy = self._port_taken_by_stranger(svc)
                if busy:
                    self.say(f"  skip  {name:<12} {busy}")
                    continue
                log_path = self.layout.log(name)
                self._log_start[name] = log_path.stat().st_size if log_path.exists() else 0
                record = procs.spawn(name, svc.argv, self.layout.log(name), cwd=self.layout.root,
                                     env=env, tie_to_parent=tie_to_parent)
                self.records.save(record)
                started.append(name)
                self.started.append(name)
                self.say(f"  start {name:<12} pid {record.pid}, log {record.log_path}")
            failed = self._wait_healthy([services[n] for n in started])
            self._write_stack_file(services)
            if "prometheus" in started and "prometheus" not in failed:
                self._reconcile_alerts(began)
            return started, failed

    def _reconcile_alerts(self, began: float) -> None:
        """A new Prometheus: resolve the router's alerts that stopped firing while it was down
        (vigil/stack/reconcile.py), instead of leaving them open for their stale_after."""
        from router.client_cli import RouterClient
        from vigil.stack import reconcile

        ports = self.options.ports
        if not httpclient.is_healthy(f"http://127.0.0.1:{ports.router}/-/ready"):
            return
        token = (self.layout.token_file.read_text().strip()
                 if self.layout.token_file.is_file() else "")
        reconcile.after_restart(RouterClient(f"http://127.0.0.1:{ports.router}", token,
                                             timeout=5),
                                f"http://127.0.0.1:{ports.prometheus}", began,
                                timeout=min(self.options.health_timeout, 90.0), say=self.say)

    def _ensure_postgres(self) -> None:
        if self._pg_ready():
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
        while not self._pg_ready():
            if time.monotonic() > deadline:
                raise StackError("PostgreSQL did not come up within 30 s; see "
                                 f"/var/log/postgresql/postgresql-{version}-main.log")
            time.sleep(0.5)
        (self.layout.state / "postgres-started-by-vigil").write_text(version)

    def _pg_ready(self) -> bool:
        try:
            with psycopg.connect(self.admin, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

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
                cwd=self.layout.root, env=self._env(), check=False, timeout=600)
        if proc.returncode != 0:
            raise StackError(f"{task.title} failed (exit {proc.returncode}); "
                             f"from {log_path}:\n{why_failed(log_path, start)}")
        self.say(f"  ok    {task.name:<12} {task.title}")

    def _healthy(self, svc: Service) -> bool:
        if svc.health_url is None:
            record = self.records.load(svc.name)
            return record is not None and procs.is_running(record)
        return httpclient.is_healthy(svc.health_url)

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
                elif self._healthy(svc):
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

    def _write_stack_file(self, services: Mapping[str, Service]) -> None:
        doc = {
            "ports": dataclasses.asdict(self.options.ports),
            "urls": {n: s.url for n, s in services.items() if s.url and not s.missing},
            "updated_at": datetime.now().astimezone().isoformat(),
        }
        self.layout.stack_file.write_text(json.dumps(doc, indent=2))

    def urls(self) -> list[tuple[str, str]]:
        services = self.services()
        out = [(services[n].title, services[n].url or "") for n in ORDER
               if n in services and services[n].url and not services[n].missing]
        if "router" in services and not services["router"].missing:
            # The router's web console: the runbook's thresholds and signals, from Prometheus
            # (what the docs call the dashboard on the native stack, which has no Grafana).
            out.insert(0, ("overview (console)",
                           f"http://127.0.0.1:{self.options.ports.router}/console/overview"))
            # Where to log in (plan.STACK_CONSOLE): the password's file, never the password.
            password = self.layout.state / "console-responder-password"
            out.append((f"console (user responder, password in {password})",
                        f"http://127.0.0.1:{self.options.ports.router}/console/"))
        out.append(("state and logs", str(self.layout.state)))
        return out

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

    def status(self) -> list[PartStatus]:
        out = [PartStatus("postgres", "PostgreSQL", "running" if self._pg_ready() else "stopped",
                          self._pg_ready(), None, redact_dsn(self.admin))]
        for name, svc in self.services().items():
            record = self.records.load(name)
            if svc.missing and record is None:
                out.append(PartStatus(name, svc.title, "skipped", None, None, svc.url,
                                      svc.missing))
                continue
            if record is None:
                out.append(PartStatus(name, svc.title, "stopped", None, None, svc.url))
                continue
            if not procs.is_running(record):
                out.append(PartStatus(name, svc.title, "dead", False, record.pid, svc.url,
                                      f"exited; see {record.log_path}"))
                continue
            out.append(PartStatus(name, svc.title, "running", self._healthy(svc), record.pid,
                                  svc.url))
        return out

    def router_summary(self) -> dict[str, Any]:
        """Open alerts by severity and the next escalation due, from the router API."""
        from vigil.stack import health

        token = (self.layout.token_file.read_text().strip()
                 if self.layout.token_file.is_file() else "")
        return health.router_summary(f"http://127.0.0.1:{self.options.ports.router}", token)


class StackError(VigilError):
    """The stack could not be brought up; the message says what to do."""

