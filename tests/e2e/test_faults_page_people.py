"""End to end: each injected fault pages the runbook's people, through the real processes.

One shared stack for the whole module, on free ports, in private databases:

    demo workload -> PostgreSQL (own demo DB) -> `vigil exporter` -> real Prometheus
    (compressed-timing overlay of prometheus/rules) -> real Alertmanager (the project's
    alertmanager.yml, short group timings) -> `vigil router` (own DB, a test copy of
    config/escalation.yml with seconds instead of minutes) -> `vigil sink`

Every wait polls with a deadline; nothing sleeps and hopes. The configs are derived from the
project's own files programmatically, so the test cannot drift from what users run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from rules.live import Live, audit_pipeline

from vigil import pg, promtools
from vigil.stack import http, procs
from vigil.stack.plan import Ports, derive_generic, derive_router

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# fault -> the alert the runbook's rules raise for it.
FAULTS: dict[str, str] = {
    "slow-rls": "VigilRlsOverheadHigh",
    "slow-audit": "VigilAuditWriteSlow",
    "slow-encryption": "VigilEncryptionSlow",
    "failed-access": "VigilFailedAccessSpike",
    "audit-tamper": "VigilAuditIntegrityViolation",
    # Issue #9 point 7, the two controls the issue saw bypassed (about 20 s each here; the
    # other two control faults are proven through the real Prometheus in
    # tests/rules/test_faults_fire.py, to keep this test's cost down).
    "rls-disabled": "VigilControlRlsDisabled",
    "unaudited-writes": "VigilControlUnauditedWrites",
}
RESPONSE = 6.0   # every level's response time and step spacing in the test matrix, seconds
FIRE_TIMEOUT = 90.0


def wait(check: Callable[[], T | None], timeout: float, what: str,
         explain: Callable[[], str] | None = None, interval: float = 0.25) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}"
                                 + (f"\n{explain()}" if explain else ""))
        time.sleep(interval)


def severity_of(alertname: str) -> str:
    for _path, _group, rule in promtools.iter_rules():
        if rule.get("alert") == alertname:
            return str(rule["labels"]["severity"])
    raise AssertionError(f"no rule named {alertname} in prometheus/rules")


def short_matrix(dest: Path, sink_url: str) -> tuple[Path, dict[str, Any]]:
    """config/escalation.yml with seconds for minutes: same people, same order."""
    doc = yaml.safe_load((ROOT / "config" / "escalation.yml").read_text())
    for level in doc["levels"].values():
        level["response_time"] = f"{RESPONSE:g}s"
        for i, step in enumerate(level["steps"]):
            step["delay"] = f"{i * RESPONSE:g}s"
        for notice in level.get("notices") or []:
            notice["delay"] = "0s"
        if level.get("repeat", {}).get("times"):
            level["repeat"]["interval"] = f"{RESPONSE:g}s"
    for channel in doc["channels"].values():
        if channel.get("type") == "webhook":
            channel["url"] = f"{sink_url}/notify"
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest, doc


@dataclasses.dataclass
class E2E(Live):
    """The rules suite's live stack (router API, explain) plus Alertmanager and the sink."""

    am: promtools.ManagedProcess
    matrix: dict[str, Any]
    logs: Path

    @property
    def sink(self) -> str:
        return f"http://127.0.0.1:{self.ports.sink}"

    def api(self, path: str, body: Any = None) -> Any:
        return self.router_api(path, body)

    def pages(self, alert_id: int) -> list[dict[str, Any]]:
        pages = http.get_json(f"{self.sink}/api/pages")["pages"]
        return [p for p in pages if p["alert_id"] == str(alert_id)]

    def firing(self) -> list[str]:
        return sorted(a["labels"]["alertname"] for a in promtools.alerts(self.prom.url)
                      if a.get("state") == "firing")


def _spawn(name: str, argv: list[str], logs: Path, env: dict[str, str]) -> procs.ProcessRecord:
    return procs.spawn(name, argv, logs / f"{name}.log", cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def e2e(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    from vigil.demo import app as demo_app

    work = tmp_path_factory.mktemp("e2e")
    logs = work / "logs"
    logs.mkdir()
    suffix = uuid.uuid4().hex[:10]
    demo_db, router_db = f"vigil_e2e_demo_{suffix}", f"vigil_e2e_router_{suffix}"
    pg.ensure_database(admin_dsn, router_db)
    records: list[procs.ProcessRecord] = []
    managed: list[promtools.ManagedProcess] = []
    try:
        demo = demo_app.setup(admin_dsn, demo_db)
        ports = Ports(exporter=promtools.free_port(), router=promtools.free_port(),
                      sink=promtools.free_port())
        token = uuid.uuid4().hex
        token_file = work / "router-webhook.token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        vigil = [sys.executable, "-m", "vigil.cli"]
        env = dict(os.environ, PYTHONUNBUFFERED="1", VIGIL_ROUTER_TOKEN=token,
                   VIGIL_ROUTER_DSN=pg.with_dbname(admin_dsn, router_db),
                   VIGIL_SINK_URL=f"http://127.0.0.1:{ports.sink}",
                   VIGIL_EXPORTER_DSN=demo.exporter_dsn)

        # Issue #16: the sealer and maintainer (or, before they are merged, stand-ins for
        # their status functions), so a clean run has no sealer/maintenance alert.
        def spawn(name: str, argv: list[str]) -> procs.ProcessRecord:
            records.append(rec := _spawn(name, argv, logs, env))
            return rec

        audit_pipeline(demo.admin_dsn, work, spawn)

        # The sink and the router (test matrix: seconds, same people).
        records.append(_spawn("sink", [*vigil, "sink", "--port", str(ports.sink)], logs, env))
        matrix_path, matrix = short_matrix(work / "escalation.yml", f"http://127.0.0.1:{ports.sink}")
        router_cfg = derive_router(ROOT / "config" / "router.yml", work / "router.yml", ports,
                                   matrix_path)
        records.append(_spawn("router", [*vigil, "router", "--config", str(router_cfg)],
                              logs, env))

        # The exporter on the demo DB, collecting every second or two.
        exp_cfg = derive_generic(ROOT / "config" / "exporter.yml", work / "exporter.yml", ports,
                                 {"state_dir": str(work / "exporter-state")})
        doc = yaml.safe_load(exp_cfg.read_text())
        for name, coll in doc["collectors"].items():
            coll["interval"] = "2s" if name in ("rls", "security") else "1s"
        doc["scheduler"]["start_jitter"] = "0s"
        doc.pop("custom_collectors", None)
        exp_cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
        records.append(_spawn("exporter", [
            *vigil, "exporter", "--config", str(exp_cfg),
            "--web.listen-address", f"127.0.0.1:{ports.exporter}"], logs, env))

        # The workload, for the whole module. Its background denied attempts (one every 60 s,
        # whatever the rate: see docs/demo.md) stay under VigilFailedAccessRateHigh's 0.05/s
        # inside the compressed 30 s window: at most one lands in a window (0.033/s). A
        # shorter window would let a single background denial trip the failed-access rules.
        records.append(_spawn("workload", [
            *vigil, "demo", "load", "--admin-dsn", admin_dsn, "--db", demo_db,
            "--duration", "0", "--rate", "4"], logs, env))

        # Prometheus starts only once the exporter reports every collector (no absent() noise).
        def exporter_warm() -> bool:
            try:
                _, body = http.request(f"http://127.0.0.1:{ports.exporter}/metrics", timeout=2)
            except http.HttpError:
                return False
            text = body.decode()
            return ('vigil_up{target="demo"} 1.0' in text
                    and "vigil_rls_overhead_seconds{" in text
                    and "vigil_audit_integrity_issues{" in text)
        wait(exporter_warm, 60, "the exporter's first full snapshot",
             lambda: "\n".join(Path(r.log_path).read_text()[-2000:] for r in records))

        # Real Alertmanager and Prometheus, on the project's configs with short timings.
        am_cfg = promtools.alertmanager_test_config(
            work / "alertmanager.yml",
            webhook_url=f"http://127.0.0.1:{ports.router}/api/v1/alertmanager",
            credentials_file=token_file, group_wait="1s", group_interval="1s")
        am = promtools.start_alertmanager(am_cfg)
        managed.append(am)
        rules = promtools.compressed_rules(
            promtools.RULES_DIR, work / "rules", for_="3s", window="30s",
            # the exporter above collects every 1-2 s: floor the windows for that
            collector_intervals={n: 2.0 if n in ("rls", "security") else 1.0
                                 for n in doc["collectors"]})
        # Prometheus's discovery hands targets to the scraper only after ~5 s, longer than the
        # compressed 3 s `for:`, so absent() alerts fire at every start. Warm up without an
        # Alertmanager until they clear, then point Prometheus at it (a reload keeps state).
        def prom_config(alertmanagers: list[str]) -> Path:
            return promtools.prometheus_test_config(
                work / "prometheus.yml",
                targets={"vigil-exporter": [f"127.0.0.1:{ports.exporter}"],
                         "vigil-router": [f"127.0.0.1:{ports.router}"]},
                rule_files=rules, alertmanagers=alertmanagers, scrape_interval="1s",
                evaluation_interval="1s")
        prom = promtools.start_prometheus(prom_config([]))
        managed.append(prom)
        promtools.wait_for_targets_up(prom.url, ["vigil-exporter", "vigil-router"], timeout=60)
        wait(lambda: promtools.alerts(prom.url) == [], 30, "start-up alerts to clear",
             lambda: str(promtools.alerts(prom.url)))
        prom_config([am.address])
        promtools.reload(prom)
        stack = E2E(prom=prom, ports=ports, token=token, demo_admin_dsn=demo.admin_dsn,
                    records=records, am=am, matrix=matrix, logs=logs)
        for rec, url in ((records[0], f"{stack.sink}/-/ready"),
                         (records[1], f"{stack.router}/-/ready"),
                         (records[2], f"http://127.0.0.1:{ports.exporter}/-/ready")):
            wait(lambda u=url: http.is_healthy(u), 60, f"{rec.name} to be ready", stack.explain)
        yield stack
    finally:
        for proc in managed:
            proc.stop()
        for rec in reversed(records):
            procs.stop(rec, timeout=10)
        for rec in records:
            assert procs.group_members(rec.pgid) == [], f"{rec.name} left processes behind"
        with pg.connect(admin_dsn) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                         ([demo_db, router_db],))
        pg.drop_database(admin_dsn, demo_db)
        pg.drop_database(admin_dsn, router_db)


def test_a_clean_workload_raises_no_alert(e2e: E2E) -> None:
    """Runs first: the workload, scraped and evaluated, for as long as one fault takes."""
    from vigil.demo import faults

    assert faults.active_faults(e2e.demo_admin_dsn) == []
    deadline = time.monotonic() + 25
    # Rules need a few evaluations with data before an alert could fire at all.
    wait(lambda: promtools.query(e2e.prom.url, "vigil_up") or None, 30, "vigil_up to be scraped")
    while time.monotonic() < deadline:
        assert e2e.firing() == [], e2e.explain()
        time.sleep(1)
    active = [a["labels"]["alertname"] for a in promtools.alerts(e2e.prom.url)]
    assert active == [], f"pending alerts on a clean run: {active}"
    assert e2e.api("/api/v1/alerts")["alerts"] == []
    assert http.get_json(f"{e2e.sink}/api/pages")["pages"] == []


def _ack(e2e: E2E, alert_id: int, via_cli: bool) -> None:
    if via_cli:
        proc = subprocess.run(
            [sys.executable, "-m", "vigil.cli", "alert", "ack", str(alert_id), "--who", "e2e",
             "--url", e2e.router],
            capture_output=True, text=True, timeout=30, check=False,
            env=dict(os.environ, VIGIL_ROUTER_TOKEN=e2e.token))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:
        e2e.api(f"/api/v1/alerts/{alert_id}/ack", {"who": "e2e", "note": "on it"})


def _cli_ack_available() -> bool:
    try:
        import router.client_cli  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_pages_escalates_acks_and_resolves(e2e: E2E, fault: str) -> None:
    from vigil.demo import faults

    alertname = FAULTS[fault]
    severity = severity_of(alertname)
    level = e2e.matrix["levels"][severity]
    faults.inject(e2e.demo_admin_dsn, fault)
    healed = False
    try:
        # 1. It fires in the real Prometheus ...
        promtools.wait_for_alert(e2e.prom.url, alertname, timeout=FIRE_TIMEOUT)

        # 2. ... passes the real Alertmanager ...
        def in_am() -> bool:
            active = promtools.api_get(e2e.am.url, "/api/v2/alerts")
            return any(a["labels"].get("alertname") == alertname for a in active)
        wait(in_am, 30, f"{alertname} in Alertmanager", e2e.explain)

        # 3. ... and reaches the router with the rule's severity.
        def in_router() -> dict[str, Any] | None:
            alerts = e2e.api(f"/api/v1/alerts?status=open&label=alertname={alertname}")["alerts"]
            return alerts[0] if alerts else None
        alert = wait(in_router, 30, f"{alertname} at the router", e2e.explain)
        assert alert["severity"] == severity
        alert_id = int(alert["id"])

        # 4. The runbook's first-step targets are paged at the sink, in order; P1's notices
        #    (CTO, Legal) go out whatever happens.
        first = list(level["steps"][0]["targets"])
        notices = [t for n in level.get("notices") or [] for t in n["targets"]]

        def step_pages(step: int, kind: str = "escalation") -> list[str]:
            return [p["target"] for p in e2e.pages(alert_id)
                    if p["step"] == step and p["kind"] == kind]

        wait(lambda: step_pages(1) == first or None, 30,
             f"step 1 pages to {first}", e2e.explain)
        if notices:
            wait(lambda: sorted(step_pages(1, "notice")) == sorted(notices) or None, 30,
                 f"notices to {notices}", e2e.explain)

        # 5. Unacknowledged, it escalates: the next step's people, or (single-step levels)
        #    the response-time breach on the timeline.
        if len(level["steps"]) > 1:
            second = list(level["steps"][1]["targets"])
            wait(lambda: step_pages(2) == second or None, RESPONSE * 4,
                 f"step 2 pages to {second}", e2e.explain)
        else:
            wait(lambda: any(e["kind"] == "sla_breached" for e in _timeline(e2e, alert_id)),
                 RESPONSE * 4, "the SLA breach on the timeline", e2e.explain)

        # 6. An ack (API, or the CLI for one fault) stops escalation: no pending step is left,
        #    and none is paged while the next one would have been due.
        via_cli = fault == "slow-audit" and _cli_ack_available()
        _ack(e2e, alert_id, via_cli)
        ctx = e2e.api(f"/api/v1/alerts/{alert_id}/context")
        assert ctx["alert"]["status"] == "acked"
        assert [s for s in ctx["plan"] if s["kind"] == "step" and s["state"] == "pending"] == []
        escalations_at_ack = len([p for p in e2e.pages(alert_id) if p["kind"] == "escalation"])
        quiet_until = time.monotonic() + RESPONSE + 2
        while time.monotonic() < quiet_until:
            now = len([p for p in e2e.pages(alert_id) if p["kind"] == "escalation"])
            assert now == escalations_at_ack, "a step was paged after the ack"
            time.sleep(0.5)

        # 7. Healed, it resolves end to end.
        faults.heal(e2e.demo_admin_dsn, fault)
        healed = True
        promtools.wait_for_alert_cleared(e2e.prom.url, alertname, timeout=FIRE_TIMEOUT)
        wait(lambda: e2e.api(f"/api/v1/alerts/{alert_id}")["status"] == "resolved", 60,
             f"alert {alert_id} resolved at the router", e2e.explain)

        # 8. The timeline shows every step.
        kinds = [e["kind"] for e in _timeline(e2e, alert_id)]
        for expected in ("received", "escalated", "notified", "acked", "resolved"):
            assert expected in kinds, f"{expected} missing from the timeline: {kinds}"
        assert kinds.index("received") < kinds.index("acked") < kinds.index("resolved")
        if len(level["steps"]) > 1:
            assert len([k for k in kinds if k == "escalated"]) >= 2
        keys = [p["idempotency_key"] for p in e2e.pages(alert_id)]
        assert all(keys), "every delivery carries an idempotency key"
    finally:
        if not healed:
            faults.heal(e2e.demo_admin_dsn, fault)


def _timeline(e2e: E2E, alert_id: int) -> list[dict[str, Any]]:
    doc = e2e.api(f"/api/v1/alerts/{alert_id}/timeline")
    events = doc.get("events", doc) if isinstance(doc, dict) else doc
    assert isinstance(events, list), json.dumps(doc)[:300]
    return events
