"""A live monitoring stack for the rules, dashboards and e2e tests, built with vigil.stack.

    demo workload -> PostgreSQL (own demo DB) -> `vigil exporter` -> real Prometheus
    `vigil audit seal` + `vigil db maintain`       `vigil router` (own DB) ----^

The same launcher as `vigil up` (vigil.stack.runner.Stack), with test options: free ports,
private databases (xdist-safe), a state folder under the test's tmp dir, faster collectors and
Prometheus intervals. Configs are derived from the project's own files (config/*.yml,
prometheus/*.yml), so the tests cannot drift from what users run. Imported as ``rules.live``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from support import prom
from support.polling import free_port

from exporter.config import BUILTIN_COLLECTORS
from router.client_cli import RouterClient
from vigil.core import pg
from vigil.stack.parts import Options
from vigil.stack.plan import Layout, Ports
from vigil.stack.runner import Stack

# The live stack's exporter collects every second or two; the rule overlays that run against
# it pass these so their windows are floored for these intervals, not the 60 s defaults.
COLLECTOR_INTERVALS = {n: 2.0 if n in ("rls", "security") else 1.0 for n in BUILTIN_COLLECTORS}

ROOT = Path(__file__).resolve().parents[2]
# The parts that feed Prometheus; the sealer and maintainer keep the audit pipeline healthy.
BACKEND = ("sink", "router", "exporter", "sealer", "maintainer", "workload")


def fast_exporter(*, custom: bool = True) -> Any:
    """An exporter override: every collector every second or two, no start jitter."""
    def override(doc: dict[str, Any]) -> None:
        for name, coll in doc["collectors"].items():
            coll["interval"] = f"{COLLECTOR_INTERVALS.get(name, 1.0):g}s"
        doc["scheduler"]["start_jitter"] = "0s"
        if not custom:
            doc.pop("custom_collectors", None)
    return override


@dataclasses.dataclass
class Live:
    """A running test stack: its URLs, the router API, and what to print when a wait fails."""

    stack: Stack
    demo_admin_dsn: str

    @property
    def ports(self) -> Ports:
        return self.stack.options.ports

    @property
    def token(self) -> str:
        return self.stack.layout.token_file.read_text().strip()

    @property
    def router(self) -> str:
        return f"http://127.0.0.1:{self.ports.router}"

    def part(self, name: str, port: int) -> prom.Server:
        record = self.stack.records.load(name)
        assert record is not None, f"{name} is not running"
        return prom.Server(name, record, port)

    @property
    def prom(self) -> prom.Server:
        return self.part("prometheus", self.ports.prometheus)

    def router_api(self, path: str, body: Any = None) -> Any:
        api = RouterClient(self.router, self.token, timeout=5)
        return api.get(path) if body is None else api.post(path, body)

    def explain(self) -> str:
        out = []
        with contextlib.suppress(prom.PromToolsError, AssertionError):
            out.append("prometheus alerts: " + repr(
                [(a["labels"].get("alertname"), a.get("state"))
                 for a in prom.alerts(self.prom.url)]))
        for name in self.stack.records.names():
            out.append(f"--- {name} log tail:\n" + "\n".join(
                self.stack.layout.log(name).read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(out)


@contextlib.contextmanager
def private_stack(admin_dsn: str, work: Path, prefix: str,
               demo_settings: dict[str, str] | None = None, **options: Any) -> Iterator[Live]:
    """A demo database set up, a router database, and a Stack on free ports (not started)
    whose parts die with the test process; everything it started is stopped and both
    databases dropped on the way out."""
    from vigil.demo import app as demo_app

    suffix = uuid.uuid4().hex[:10]
    demo_db, router_db = f"vigil_{prefix}_demo_{suffix}", f"vigil_{prefix}_router_{suffix}"
    ports = Ports.of(exporter=free_port(), router=free_port(), sink=free_port(),
                  prometheus=free_port(), alertmanager=free_port())
    stack = Stack(Layout(root=ROOT, state=work / "state"),
                  Options(ports=ports, admin_dsn=admin_dsn, demo_db=demo_db,
                          router_db=router_db, health_timeout=60, die_with_parent=True,
                          exporter_overrides=fast_exporter(), **options),
                  say=lambda line: None)
    try:
        demo = demo_app.setup(admin_dsn, demo_db)
        if demo_settings:
            with pg.connect(demo.admin_dsn) as conn:
                for key, value in demo_settings.items():
                    conn.execute("UPDATE vigil_monitor.settings SET value = %s WHERE key = %s",
                                 (value, key))
        yield Live(stack, demo.admin_dsn)
    finally:
        stack.down()
        with pg.connect(admin_dsn) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                         ([demo_db, router_db],))
        pg.drop_database(admin_dsn, demo_db)
        pg.drop_database(admin_dsn, router_db)


def start(live: Live, parts: Sequence[str], **changes: Any) -> None:
    """``vigil up`` for just ``parts`` (with option ``changes``); fails with the logs of a
    part that exits or stays unhealthy. The parts die with the test process (even SIGKILLed:
    private_stack's options say die_with_parent)."""
    options = dataclasses.replace(live.stack.options, only=tuple(parts), **changes)
    stack = Stack(live.stack.layout, options, say=live.stack.say)
    live.stack = stack
    _, failed = stack.up()
    assert not failed, f"{failed} did not come up\n{live.explain()}"


@contextlib.contextmanager
def live_stack(admin_dsn: str, work: Path, *, rule_files: Sequence[Path],
               with_router: bool = True, demo_settings: dict[str, str] | None = None,
               load_rate: float = 25) -> Iterator[Live]:
    """Start the stack; yields once Prometheus scrapes every target successfully. No sink
    listens (deliveries retry) and no Alertmanager runs: these tests read Prometheus."""
    jobs = ["vigil-exporter", *(["vigil-router"] if with_router else [])]
    with private_stack(admin_dsn, work, "rules", demo_settings,
                    workload_args=("--duration", "0", "--rate", f"{load_rate:g}"),
                    rule_files=tuple(str(p) for p in rule_files),
                    prometheus_overrides=prom.fast_prometheus(jobs, alertmanagers=[])) as live:
        parts = [p for p in BACKEND if p != "sink" and (with_router or p != "router")]
        start(live, [*parts, "prometheus"])
        try:
            prom.wait_for_targets_up(live.prom.url, jobs, timeout=60)
        except (prom.PromToolsError, AssertionError) as exc:
            raise AssertionError(f"{exc}\n{live.explain()}") from None
        yield live
