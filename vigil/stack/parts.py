"""The stack's parts for given options: what ``vigil up`` would run, and how.

``Options`` is what ``vigil up`` (and the test stacks) may vary; ``Parts`` turns it and a
``Layout`` into the plan: the set-up tasks, each long-running ``Service`` (its command line,
health and browse URLs, or why it is missing) and the environment they all get. Nothing
here starts a process; vigil/stack/runner.py does that.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vigil.core import pg
from vigil.stack.derive import derive_alertmanager, derive_generic, derive_prometheus, derive_router
from vigil.stack.plan import (
    ALERTMANAGER_BIN,
    PROMETHEUS_BIN,
    ROUTER_DB,
    Layout,
    Ports,
    Service,
    Task,
    binary_missing,
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
    # Each part gets SIGTERM when the process that started it dies, even by SIGKILL
    # (procs.die_with_parent_preexec): a foreground `vigil up` and every test stack, never
    # `vigil up --detach`, whose parts must outlive it.
    die_with_parent: bool = False


class Parts:
    """The plan for one stack: its tasks, services and their environment."""

    def __init__(self, layout: Layout, options: Options) -> None:
        self.layout = layout
        self.options = options

    @property
    def admin(self) -> str:
        return self.options.admin_dsn or pg.admin_dsn()

    def env(self) -> dict[str, str]:
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
