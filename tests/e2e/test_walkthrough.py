"""#11 Done-when: the README's quick start and docs/runbook.md, walked step by step against
the native stack.

Every `vigil ...` command in their code blocks runs, in document order, against one stack
started by `vigil up`'s own launcher (vigil.stack via rules.live, like test_faults_page_
people) on free ports and private databases. The commands are parsed from the Markdown
(tests/support/docwalk.py), never listed here, so commands other people add to the docs are
walked too. Placeholders (ID, ${alertId}, K, ...) become real values from the running stack.
The test fails on:

- a command that errors: a traceback, an exit code outside the documented 0 (pass), 1 (a
  check failed) and 2 (`vigil check`: no ✗ but some ⚠), a usage error, or a `vigil: ...`
  error (what vigil.cli prints for an exception);
- a "✓" line for a check that examined nothing ("0 tables", "no data");
- an http(s) URL in those docs, on a port of the native stack, that answers 404.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg import sql as psql
from rules.live import BACKEND, COLLECTOR_INTERVALS, Live, fast_exporter, private_stack, start
from support import docwalk, prom
from support.polling import wait_for

from vigil.core import httpclient, pg
from vigil.stack import ruleoverlay
from vigil.stack.plan import DEFAULT_PORTS, Ports, exporter_dsn, router_dsn

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "README.md", ROOT / "docs" / "runbook.md")

# Commands that cannot run inside a test, with why. Matched on the leading words.
NOT_RUN: dict[tuple[str, ...], str] = {
    ("vigil", "up"): "starts the stack this test already runs (the fixture uses its launcher)",
    ("vigil", "down"): "would stop the stack under the rest of the walk",
    ("vigil", "router"): "a long-running server (the stack runs it)",
    ("vigil", "exporter"): "a long-running server (the stack runs it)",
    ("vigil", "sink"): "a long-running server (the stack runs it)",
    ("vigil", "audit", "seal"): "a long-running worker (the stack runs it)",
    ("vigil", "report", "schedule"): "a long-running scheduler (the stack runs it)",
    ("vigil", "demo", "load"): "runs until stopped (the stack runs the workload)",
}
# Long-running unless given this flag (then it runs like any other command).
NOT_RUN_UNLESS: dict[tuple[str, ...], tuple[str, str]] = {
    ("vigil", "db", "maintain"): ("--once", "a long-running worker without --once"),
}
OK_CODES = {0, 1, 2}   # pass, a check failed, `vigil check`'s "no ✗ but some ⚠"
# A ✓ must have examined something: these say it did not.
EMPTY_PASS = re.compile(r"\b0 (tables?|rows?|columns?|operations?|queries|writes|samples|"
                        r"checks?|keys?|targets?|collectors?)\b|no data|nothing (was )?"
                        r"(measured|examined|checked)|none (measured|examined)", re.I)
# Alert id, incident id and the like: how each placeholder reads in the docs.
ALERT_ID = ("ID", "${alertId}", "ALERT_ID")
INCIDENT_ID = ("${incidentId}", "INCIDENT_ID", "INCIDENT")
FAULT_ALERT = "VigilAuditWriteSlow"    # what the quick start's `demo inject slow-audit` raises
# The role `vigil incident contain --role` isolates: roles are cluster-wide, so never one
# another test (or the stack) logs in with; made for the walk, dropped after it.
WALK_ROLE = f"vigil_walk_{uuid.uuid4().hex[:8]}"


class Walk:
    """The running stack, the environment the commands see, and the ids they produced."""

    def __init__(self, live: Live, work: Path, admin_dsn: str) -> None:
        self.live, self.work = live, work
        layout, opts = live.stack.layout, live.stack.options
        self.env = dict(os.environ, PYTHONPATH=str(ROOT),
                        VIGIL_STATE_DIR=str(layout.state),
                        VIGIL_ROUTER_URL=live.router, VIGIL_ROUTER_TOKEN=live.token,
                        VIGIL_PROMETHEUS_URL=live.prom.url,
                        VIGIL_ADMIN_DSN=live.demo_admin_dsn, VIGIL_DEMO_DB=opts.demo_db,
                        VIGIL_EXPORTER_DSN=exporter_dsn(admin_dsn, opts.demo_db) or "",
                        VIGIL_ROUTER_DSN=router_dsn(admin_dsn, opts.router_db),
                        VIGIL_REPORT_DIR=str(work / "reports"))
        self.incident_id: str | None = None
        # ${name} placeholders, and the docs' bare ones (K, F, DATE), with their values here.
        self.places = {"K": str(layout.audit_key_file), "F": str(layout.audit_checkpoint_file),
                       "DATE": self.yesterday(),
                       "incidentType": "unauthorized-access", "severity": "P3",
                       "description": "walkthrough", "role": WALK_ROLE,
                       "actorId": "walk-actor-1", "tenantId": "tenant-3",
                       "secondResponder": "second-responder"}

    @staticmethod
    def yesterday() -> str:
        return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")

    def alert_id(self) -> str:
        """The quick start's alert: the fault's, waiting for it to reach the router."""
        def find() -> str | None:
            alerts = self.live.router_api(f"/api/v1/alerts?label=alertname={FAULT_ALERT}")
            return str(alerts["alerts"][0]["id"]) if alerts["alerts"] else None
        found: str = wait_for(find, timeout=60, interval=0.5,
                              describe=f"{FAULT_ALERT} at the router", explain=self.live.explain)
        return found

    def substitute(self, cmd: docwalk.Command) -> list[str]:
        return [self._value(cmd, arg) for arg in cmd.argv]

    def _value(self, cmd: docwalk.Command, arg: str) -> str:
        if arg in ALERT_ID:
            return self.alert_id()
        if arg in INCIDENT_ID:
            return self._incident(cmd)
        if arg in self.places:
            return self.places[arg]
        if cmd.argv[:3] == ["vigil", "report", "attest"] and re.fullmatch(
                r"\d{4}-\d{2}-\d{2}", arg):
            return self.yesterday()   # the day `vigil report daily` just built

        def named(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(2)
            if name.startswith("VIGIL_"):
                return self.env[name]
            if f"${{{name}}}" in ALERT_ID:
                return self.alert_id()
            if f"${{{name}}}" in INCIDENT_ID:
                return self._incident(cmd)
            assert name in self.places, (
                f"{cmd.source}: placeholder {name!r} has no value: add it to Walk.places")
            return self.places[name]
        value = re.sub(r"\$\{(\w+)\}|\$(VIGIL_[A-Z_]+)", named, arg)
        assert not re.fullmatch(r"[A-Z]{1,3}", value), (
            f"{cmd.source}: placeholder {arg!r} has no value: add it to Walk.places")
        return value

    def _incident(self, cmd: docwalk.Command) -> str:
        assert self.incident_id, f"{cmd.source}: an incident id before any is created"
        return self.incident_id

    def run(self, cmd: docwalk.Command) -> subprocess.CompletedProcess[str]:
        argv = self.substitute(cmd)
        return subprocess.run([sys.executable, "-m", "vigil.cli", *argv[1:]], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=60,
                              check=False)


@pytest.fixture(scope="module")
def walk(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    work = tmp_path_factory.mktemp("walk")
    # The e2e overlay (seconds, not minutes) so the quick start's fault pages during the walk.
    rules = ruleoverlay.compressed_rules(ruleoverlay.RULES_DIR, work / "rules", for_="3s",
                                         window="30s", collector_intervals=COLLECTOR_INTERVALS)
    jobs = ["vigil-exporter", "vigil-router"]
    with private_stack(admin_dsn, work, "walk",
                       workload_args=("--duration", "0", "--rate", "4"),
                       rule_files=tuple(map(str, rules))) as live:
        start(live, BACKEND, exporter_overrides=fast_exporter(custom=False))
        am = f"127.0.0.1:{live.ports.alertmanager}"
        start(live, ("alertmanager", "prometheus", "reporter"),
              prometheus_overrides=prom.fast_prometheus(jobs, alertmanagers=[am]),
              alertmanager_overrides=prom.fast_alertmanager("1s", "1s"))
        prom.wait_for_targets_up(live.prom.url, jobs, timeout=60)
        with pg.connect(admin_dsn) as conn:
            conn.execute(psql.SQL("CREATE ROLE {} LOGIN").format(psql.Identifier(WALK_ROLE)))
            conn.execute(psql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                psql.Identifier(live.stack.options.demo_db), psql.Identifier(WALK_ROLE)))
        try:
            yield Walk(live, work, admin_dsn)
        finally:
            with pg.connect(admin_dsn) as conn:
                conn.execute(psql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                    psql.Identifier(live.stack.options.demo_db), psql.Identifier(WALK_ROLE)))
    with pg.connect(admin_dsn) as conn:   # after its database is gone
        conn.execute(psql.SQL("DROP ROLE IF EXISTS {}").format(psql.Identifier(WALK_ROLE)))


def _problems(cmd: docwalk.Command, proc: subprocess.CompletedProcess[str]) -> list[str]:
    out, err = proc.stdout, proc.stderr
    found = []
    if "Traceback (most recent call last)" in out + err:
        found.append("a traceback")
    if proc.returncode not in OK_CODES:
        found.append(f"exit {proc.returncode}")
    if re.search(r"^usage: |error: (unrecognized|argument|the following)", err, re.M):
        found.append("a usage error")
    if re.search(r"^vigil: ", err, re.M):
        found.append("an error")
    found += [f"a ✓ that examined nothing: {ln.strip()!r}" for ln in out.splitlines()
              if "✓" in ln and EMPTY_PASS.search(ln)]
    return found


def test_every_command_in_the_quick_start_and_the_runbook_runs(walk: Walk) -> None:
    failures, ran, skipped = [], 0, []
    for doc in DOCS:
        for cmd in docwalk.commands(doc, ROOT):
            reason = next((why for words, why in NOT_RUN.items()
                           if tuple(cmd.argv[:len(words)]) == words), None)
            reason = reason or next((why for words, (flag, why) in NOT_RUN_UNLESS.items()
                                     if tuple(cmd.argv[:len(words)]) == words
                                     and flag not in cmd.argv), None)
            if reason:
                skipped.append(f"{cmd.source} {cmd.text}: {reason}")
                continue
            try:
                proc = walk.run(cmd)
            except subprocess.TimeoutExpired:
                failures.append(f"{cmd.source}: `{cmd.text}`: still running after 60 s "
                                "(a server? add it to NOT_RUN with the reason)")
                continue
            ran += 1
            if cmd.argv[:3] == ["vigil", "incident", "create"]:
                m = re.search(r"incident (\d+)", proc.stdout)
                walk.incident_id = m.group(1) if m else walk.incident_id
            problems = _problems(cmd, proc)
            if problems:
                failures.append(f"{cmd.source}: `{cmd.text}`: {', '.join(problems)}\n"
                                f"  exit {proc.returncode}\n  stdout: {proc.stdout[-800:]}\n"
                                f"  stderr: {proc.stderr[-800:]}")
    assert ran >= 20, f"only {ran} commands found in {[d.name for d in DOCS]}"
    assert not failures, "\n".join(failures)


def _stack_port(url: str, ports: Ports) -> tuple[str, int] | None:
    """The part and live port for a doc URL on a native-stack default port, else None."""
    m = re.match(r"https?://(127\.0\.0\.1|localhost):(\d+)(/.*)?$", url)
    if not m:
        return None
    for name, default in DEFAULT_PORTS.items():
        if default == int(m.group(2)):
            return name, getattr(ports, name)
    return None   # not the native stack (e.g. the compose stack's Grafana on 3000)


def _console_built() -> bool:
    try:
        import router.console  # noqa: F401 (the console, built under #11 by another helper)
    except ImportError:
        return False
    return True


def test_no_url_in_the_docs_answers_404_on_the_native_stack(walk: Walk) -> None:
    ports = walk.live.ports
    bad: list[str] = []
    checked = 0
    for doc in DOCS:
        for url in docwalk.urls(doc):
            part = _stack_port(url, ports)
            if part is None:
                continue
            path = re.sub(r"^https?://[^/]+", "", url) or "/"
            if path.startswith("/console") and not _console_built():
                continue   # served once router/console is merged; then it is checked too
            live_url = f"http://127.0.0.1:{part[1]}{path}"
            try:
                status, _ = httpclient.request(live_url, timeout=5, check=False)
            except httpclient.HttpError:
                status = 0   # nothing answers: a part the docs name is not running
            checked += 1
            if status in {0, 404}:
                bad.append(f"{doc.name}: {url} ({part[0]} at {live_url}) answers "
                           f"{status or 'nothing'}")
    assert checked >= 5
    assert not bad, "\n".join(bad)


def _status(walk: Walk, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil.cli", "status", *args], cwd=ROOT,
                          env=walk.env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_status_shows_each_collector_and_fails_when_one_does(walk: Walk) -> None:
    """#11: `vigil status` checked processes only; a collector failing on every run (here
    the maintenance collector's function renamed away) must show, and exit 1. Runs last:
    it breaks the stack's exporter on purpose."""
    doc = json.loads(_status(walk, "--json").stdout)
    names = {c["collector"]: c for c in doc["exporter"]["collectors"]}
    assert "maintenance" in names and all(c["ok"] for c in names.values()), names
    assert doc["timings"] is not None and doc["scrapes"], doc
    with pg.connect(walk.live.demo_admin_dsn) as conn:
        conn.execute("ALTER FUNCTION vigil_monitor.maintenance_status() "
                     "RENAME TO maintenance_status_gone")

    def failing() -> bool:
        now = json.loads(_status(walk, "--json").stdout)
        return any(c["collector"] == "maintenance" and not c["ok"]
                   for c in now["exporter"]["collectors"])
    wait_for(failing, timeout=30, interval=1, describe="the maintenance collector to fail")
    text = _status(walk)
    assert text.returncode == 1, text.stdout + text.stderr
    line = next(ln for ln in text.stdout.splitlines() if " maintenance " in ln
                and "FAILED" in ln)
    assert "missing_object" in line, line
