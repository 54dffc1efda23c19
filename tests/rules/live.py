"""A live monitoring stack for the rules and dashboards tests.

    demo workload -> PostgreSQL (own demo DB) -> `vigil exporter` -> real Prometheus
                                                  `vigil router` (own DB) ----^

Everything on free ports and private databases (xdist-safe); configs are derived from the
project's own files (config/*.yml, prometheus/prometheus.yml), so the tests cannot drift from
what users run. Imported by tests/rules and tests/dashboards as ``rules.live``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import audit_standins
import yaml

from exporter.config import BUILTIN_COLLECTORS
from vigil import pg, promtools
from vigil.schema.contract import DEFAULT_EXPORTER_ROLE
from vigil.stack import http, procs
from vigil.stack.plan import (
    Ports,
    command_missing,
    derive_generic,
    derive_router,
    maintainer_argv,
    sealer_argv,
)

# The live stack's exporter collects every second or two; the rule overlays that run against
# it pass these so their windows are floored for these intervals, not the 60 s defaults.
COLLECTOR_INTERVALS = {n: 2.0 if n in ("rls", "security") else 1.0 for n in BUILTIN_COLLECTORS}

ROOT = Path(__file__).resolve().parents[2]
VIGIL = [sys.executable, "-m", "vigil.cli"]


@dataclasses.dataclass
class Live:
    prom: promtools.ManagedProcess
    ports: Ports
    token: str
    demo_admin_dsn: str
    records: list[procs.ProcessRecord]

    @property
    def router(self) -> str:
        return f"http://127.0.0.1:{self.ports.router}"

    def router_api(self, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is None:
            return http.get_json(f"{self.router}{path}", headers=headers, timeout=5)
        return http.post_json(f"{self.router}{path}", body, headers=headers)

    def explain(self) -> str:
        out = []
        with contextlib.suppress(promtools.PromToolsError):
            out.append("prometheus alerts: " + repr(
                [(a["labels"].get("alertname"), a.get("state"))
                 for a in promtools.alerts(self.prom.url)]))
        for rec in self.records:
            out.append(f"--- {rec.name} log tail:\n" + "\n".join(
                Path(rec.log_path).read_text(errors="replace").splitlines()[-15:]))
        out.append(f"--- prometheus log tail:\n{self.prom.log_tail(10)}")
        return "\n".join(out)


@contextlib.contextmanager
def live_stack(admin_dsn: str, work: Path, *, rule_files: Sequence[Path],
               with_router: bool = True, demo_settings: dict[str, str] | None = None,
               load_rate: float = 25) -> Iterator[Live]:
    """Start the stack; yields once Prometheus scrapes every target successfully."""
    from vigil.demo import app as demo_app

    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    suffix = uuid.uuid4().hex[:10]
    demo_db, router_db = f"vigil_rules_demo_{suffix}", f"vigil_rules_router_{suffix}"
    records: list[procs.ProcessRecord] = []
    prom: promtools.ManagedProcess | None = None
    try:
        demo = demo_app.setup(admin_dsn, demo_db)
        if demo_settings:
            with pg.connect(demo.admin_dsn) as conn:
                for key, value in demo_settings.items():
                    conn.execute("UPDATE vigil_monitor.settings SET value = %s WHERE key = %s",
                                 (value, key))
        ports = Ports(exporter=promtools.free_port(), router=promtools.free_port(),
                      sink=promtools.free_port())  # nothing listens on sink: deliveries retry
        token = uuid.uuid4().hex
        env = dict(os.environ, PYTHONUNBUFFERED="1", VIGIL_ROUTER_TOKEN=token,
                   VIGIL_ROUTER_DSN=pg.with_dbname(admin_dsn, router_db),
                   VIGIL_SINK_URL=f"http://127.0.0.1:{ports.sink}",
                   VIGIL_EXPORTER_DSN=demo.exporter_dsn)

        def spawn(name: str, argv: list[str]) -> procs.ProcessRecord:
            rec = procs.spawn(name, argv, logs / f"{name}.log", cwd=ROOT, env=env)
            records.append(rec)
            return rec

        audit_pipeline(demo.admin_dsn, work, spawn)

        targets = {"vigil-exporter": [f"127.0.0.1:{ports.exporter}"]}
        if with_router:
            pg.ensure_database(admin_dsn, router_db)
            router_cfg = derive_router(ROOT / "config" / "router.yml", work / "router.yml",
                                       ports)
            spawn("router", [*VIGIL, "router", "--config", str(router_cfg)])
            targets["vigil-router"] = [f"127.0.0.1:{ports.router}"]

        # The exporter on the demo DB, collecting every second or two.
        exp_cfg = derive_generic(ROOT / "config" / "exporter.yml", work / "exporter.yml", ports,
                                 {"state_dir": str(work / "exporter-state")})
        doc = yaml.safe_load(exp_cfg.read_text())
        for name, coll in doc["collectors"].items():
            coll["interval"] = f"{COLLECTOR_INTERVALS.get(name, 1.0):g}s"
        doc["scheduler"]["start_jitter"] = "0s"
        exp_cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
        spawn("exporter", [*VIGIL, "exporter", "--config", str(exp_cfg),
                           "--web.listen-address", f"127.0.0.1:{ports.exporter}"])
        spawn("workload", [*VIGIL, "demo", "load", "--admin-dsn", admin_dsn, "--db", demo_db,
                           "--duration", "0", "--rate", f"{load_rate:g}"])

        prom_cfg = promtools.prometheus_test_config(
            work / "prometheus.yml", targets=targets, rule_files=rule_files,
            scrape_interval="1s", evaluation_interval="1s")
        prom = promtools.start_prometheus(prom_cfg)
        live = Live(prom, ports, token, demo.admin_dsn, records)
        try:
            promtools.wait_for_targets_up(prom.url, targets, timeout=60)
        except promtools.PromToolsError as exc:
            raise AssertionError(f"{exc}\n{live.explain()}") from None
        yield live
    finally:
        if prom is not None:
            prom.stop()
        for rec in reversed(records):
            procs.stop(rec, timeout=10)
        with pg.connect(admin_dsn) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                         ([demo_db, router_db],))
        pg.drop_database(admin_dsn, demo_db)
        pg.drop_database(admin_dsn, router_db)


def audit_pipeline(dsn: str, work: Path,
                    spawn: Callable[[str, list[str]], procs.ProcessRecord]) -> None:
    """Issue #16: run the sealer and maintainer when this checkout has them, so the
    audit_pipeline/maintenance metrics have sealer series; where the schema lacks the status
    functions (their migrations not merged yet), install test stand-ins reporting a healthy
    pipeline instead (tests/audit_standins.py)."""
    if command_missing(("audit", "seal"), "sealer") is None:
        key = work / "audit.key"
        key.write_text(secrets.token_hex(32) + "\n")
        key.chmod(0o600)
        spawn("sealer", list(sealer_argv(dsn, key, work / "audit-checkpoint")))
    if command_missing(("db", "maintain"), "maintainer") is None:
        spawn("maintainer", list(maintainer_argv(dsn)))
    audit_standins.install(dsn, only_missing=True, rows=audit_standins.HEALTHY,
                           grant_to=DEFAULT_EXPORTER_ROLE)
