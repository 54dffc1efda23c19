"""vigil up / status / down, run as a user runs them, on free ports and a private state folder.

These start only the parts that need nothing from the database (the sink), so they are
fast and xdist-safe; the full stack is exercised by tests/e2e.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support import polling, tether

from vigil.core import httpclient
from vigil.stack import procs
from vigil.stack.derive import derive_alertmanager, derive_prometheus, derive_router, rewrite_ports
from vigil.stack.parts import Options
from vigil.stack.plan import (
    Layout,
    Ports,
)
from vigil.stack.runner import Stack


def vigil(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "vigil.cli", *args]
    if args[0] == "up" and "--detach" in args:  # its parts outlive it: tethered to this test
        return tether.run(argv, timeout=timeout)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def pgid_gone(pgid: int) -> bool:
    return procs.group_members(pgid) == []


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    yield state
    # Whatever a failing test left running goes too.
    vigil("down", "--state-dir", str(state))
    tether.end_all()


def test_up_detach_is_idempotent_status_reports_and_down_leaves_nothing(state: Path) -> None:
    port = polling.free_port()
    first = vigil("up", "--detach", "--only", "sink", "--state-dir", str(state),
                  "--port", f"sink={port}")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"http://127.0.0.1:{port}/" in first.stdout
    assert str(state) in first.stdout  # the state folder is named
    record = procs.RecordStore(state / "run").load("sink")
    assert record is not None and procs.is_running(record)

    again = vigil("up", "--detach", "--only", "sink", "--state-dir", str(state),
                  "--port", f"sink={port}")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
    assert procs.RecordStore(state / "run").load("sink") == record  # same process kept

    status = vigil("status", "--json", "--state-dir", str(state))
    doc = json.loads(status.stdout)
    sink = next(p for p in doc["parts"] if p["name"] == "sink")
    assert (sink["state"], sink["healthy"], sink["pid"]) == ("running", True, record.pid)
    text = vigil("status", "--state-dir", str(state)).stdout
    assert "sink" in text and "healthy" in text

    down = vigil("down", "--state-dir", str(state))
    assert down.returncode == 0 and "sink" in down.stdout
    polling.wait_for(lambda: pgid_gone(record.pgid), timeout=10,
                     interval=0.05, describe="the sink's process group to end")
    assert not httpclient.is_healthy(f"http://127.0.0.1:{port}/-/healthy")
    assert "nothing was running" in vigil("down", "--state-dir", str(state)).stdout


def _start_foreground(state: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    proc = polling.child(
        [sys.executable, "-m", "vigil.cli", "up", "--only", "sink", "--state-dir", str(state),
         "--port", f"sink={port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    polling.wait_for(lambda: any("Ctrl-C stops" in ln for ln in lines), timeout=30,
                     interval=0.05, describe="vigil up to be ready")
    return proc, lines


def test_foreground_up_shows_pages_and_ctrl_c_stops_everything(state: Path) -> None:
    port = polling.free_port()
    proc, lines = _start_foreground(state, port)
    record = procs.RecordStore(state / "run").load("sink")
    assert record is not None
    try:
        httpclient.post_json(f"http://127.0.0.1:{port}/hook/security-team",
                             {"step": 1, "severity": "P1", "alertname": "VigilAuditChainBroken"},
                             headers={"Idempotency-Key": "a1-s1"})
        polling.wait_for(lambda: any(" PAGE " in ln and "security-team" in ln for ln in lines),
                         timeout=10, interval=0.05, describe="the page line in vigil up's terminal")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    polling.wait_for(lambda: pgid_gone(record.pgid), timeout=10,
                     interval=0.05, describe="the sink's process group to end")
    assert procs.RecordStore(state / "run").names() == []


def test_killing_foreground_up_with_sigkill_still_leaves_no_process(state: Path) -> None:
    port = polling.free_port()
    proc, _ = _start_foreground(state, port)
    record = procs.RecordStore(state / "run").load("sink")
    assert record is not None
    proc.kill()  # no chance to clean up: the children must notice on their own
    proc.wait(timeout=10)
    polling.wait_for(lambda: pgid_gone(record.pgid), timeout=15,
                     interval=0.05, describe="the orphaned sink to stop")
    status = json.loads(vigil("status", "--json", "--state-dir", str(state)).stdout)
    sink = next(p for p in status["parts"] if p["name"] == "sink")
    assert sink["state"] == "dead"


def test_missing_parts_are_skipped_with_a_reason(tmp_path: Path) -> None:
    bare = tmp_path / "checkout"
    (bare / "config").mkdir(parents=True)
    said: list[str] = []
    stack = Stack(Layout(root=bare, state=tmp_path / "state"),
                  Options(ports=Ports.of(sink=polling.free_port()),
                          only=("sink", "prometheus", "alertmanager"), die_with_parent=True),
                  say=said.append)
    try:
        started, failed = stack.up()
        assert (started, failed) == (["sink"], [])
        text = "\n".join(said)
        assert "skip  alertmanager" in text and "alertmanager.yml does not exist" in text
        assert "skip  prometheus" in text and "prometheus.yml does not exist" in text
        states = {p.name: p.state for p in stack.status()}
        assert states["prometheus"] == "skipped" and states["sink"] == "running"
    finally:
        stack.down()


def test_a_port_held_by_a_stranger_is_reported_not_fought_over(tmp_path: Path) -> None:
    from aiohttp import web

    from vigil.sink.app import create_app

    port = polling.free_port()
    runner = web.AppRunner(create_app(echo=lambda page: None))
    loop_ready = threading.Event()
    import asyncio

    loop = asyncio.new_event_loop()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        loop_ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert loop_ready.wait(10)
    said: list[str] = []
    stack = Stack(Layout(root=tmp_path, state=tmp_path / "state"),
                  Options(ports=Ports.of(sink=port), only=("sink",), die_with_parent=True),
                  say=said.append)
    try:
        started, _ = stack.up()
        assert started == []
        assert any("not started by vigil" in line for line in said)
    finally:
        stack.down()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


# --- derived configs --------------------------------------------------------------------------

def test_rewrite_ports_moves_only_local_default_ports() -> None:
    ports = Ports.of(exporter=28090, alertmanager=29093)
    data = {"targets": ["127.0.0.1:18090", "localhost:9093", "db.example:18090", "127.0.0.1:1"]}
    assert rewrite_ports(data, ports.rewrites()) == {
        "targets": ["127.0.0.1:28090", "localhost:29093", "db.example:18090", "127.0.0.1:1"]}


def test_derived_prometheus_config_has_absolute_rules_and_stack_ports(tmp_path: Path) -> None:
    src_dir = tmp_path / "prometheus"
    src_dir.mkdir()
    src = src_dir / "prometheus.yml"
    src.write_text(yaml.safe_dump({
        "rule_files": ["rules/*.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]},
        "scrape_configs": [{"job_name": "vigil-exporter",
                            "static_configs": [{"targets": ["127.0.0.1:18090"]}]}]}))
    out = derive_prometheus(src, tmp_path / "gen" / "prometheus.yml",
                            Ports.of(exporter=1111, alertmanager=2222))
    text = out.read_text()
    assert text.startswith("# GENERATED by `vigil up`")
    doc = yaml.safe_load(text)
    assert doc["rule_files"] == [str(src_dir / "rules/*.yml")]
    assert doc["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:1111"]
    assert doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:2222"]


def test_derived_alertmanager_config_uses_the_stack_token_file(tmp_path: Path) -> None:
    src = tmp_path / "alertmanager.yml"
    src.write_text(yaml.safe_dump({
        "route": {"receiver": "vigil-router"},
        "receivers": [{"name": "vigil-router", "webhook_configs": [{
            "url": "http://127.0.0.1:18091/api/v1/alertmanager",
            "http_config": {"authorization": {"type": "Bearer",
                                              "credentials_file": "secrets/router-token"}}}]}]}))
    token = tmp_path / "state" / "router-token"
    doc = yaml.safe_load(derive_alertmanager(src, tmp_path / "gen.yml", Ports.of(router=3333),
                                             token).read_text())
    hook = doc["receivers"][0]["webhook_configs"][0]
    assert hook["url"] == "http://127.0.0.1:3333/api/v1/alertmanager"
    assert hook["http_config"]["authorization"]["credentials_file"] == str(token)


def test_derived_router_config_points_at_the_escalation_file(tmp_path: Path) -> None:
    src = tmp_path / "config" / "router.yml"
    src.parent.mkdir()
    src.write_text(yaml.safe_dump({"listen": {"host": "127.0.0.1", "port": 18091},
                                   "public_url": "http://127.0.0.1:18091",
                                   "escalation_file": "escalation.yml"}))
    doc = yaml.safe_load(derive_router(src, tmp_path / "r.yml", Ports.of(router=4444,
                                                                   prometheus=4445)).read_text())
    assert doc["listen"]["port"] == 4444
    assert doc["prometheus_url"] == "http://127.0.0.1:4445"   # what `alert context` reads
    assert doc["public_url"] == "http://127.0.0.1:4444"
    assert doc["escalation_file"] == str(src.parent / "escalation.yml")


def test_the_real_router_config_derives_cleanly(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    out = derive_router(root / "config" / "router.yml", tmp_path / "router.yml", Ports.of())
    doc = yaml.safe_load(out.read_text())
    assert doc["escalation_file"] == str(root / "config" / "escalation.yml")
    assert doc["oncall_file"] == str(root / "config" / "oncall.yml")   # the P3 schedule
    assert doc["listen"]["port"] == 18091
    from router.config import load_config
    from vigil.stack.plan import Layout, ensure_console
    # The environment the stack gives the router: its token and the console's secrets.
    env = {"VIGIL_ROUTER_TOKEN": "stack-test-token",
           **ensure_console(Layout(root, tmp_path / "state"))}
    config = load_config(out, env=env)
    assert "primary" in config.oncall.schedules


def test_the_stack_router_serves_the_console_reading_the_stack_prometheus(
        tmp_path: Path) -> None:
    """Where no Grafana runs, the stack's router serves the console and its overview; the
    secret and passwords are the state folder's (0600), handed over by environment only."""
    from router.config import load_config
    from vigil.stack.plan import Layout, ensure_console

    root = Path(__file__).resolve().parents[2]
    out = derive_router(root / "config" / "router.yml", tmp_path / "router.yml",
                        Ports.of(prometheus=9999))
    assert "VIGIL_CONSOLE" in out.read_text()                  # names, never values
    env = {"VIGIL_ROUTER_TOKEN": "t0ken-x", **ensure_console(Layout(root, tmp_path / "st"))}
    assert ensure_console(Layout(root, tmp_path / "st")) == {k: env[k] for k in env
                                                             if k.startswith("VIGIL_CONSOLE")}
    assert (tmp_path / "st" / "console-secret").stat().st_mode & 0o777 == 0o600
    router = load_config(out, env=env).router
    console = router.console
    # The overview reads the router's one Prometheus URL: the stack's.
    assert console is not None and router.prometheus_url == "http://127.0.0.1:9999"
    assert {u: c.role for u, c in console.users.items()} == {"responder": "responder",
                                                             "viewer": "read-only"}
    assert env["VIGIL_CONSOLE_SECRET"] not in out.read_text()
    urls = dict(Stack(Layout(root, tmp_path / "st"), Options(ports=Ports.of(router=4444))).urls())
    [(title, url)] = [(t, u) for t, u in urls.items() if t.startswith("console")]
    assert url == "http://127.0.0.1:4444/console/"
    assert str(tmp_path / "st" / "console-responder-password") in title   # where, not what


def test_fast_mode_derives_valid_configs_with_demo_timings(tmp_path: Path) -> None:
    """`vigil up --fast`: real rules compressed, short intervals, and both tools accept them."""
    from vigil.core.durations import parse_prometheus as parse_duration
    from vigil.stack.fast import FAST_FOR
    from vigil.stack.fast import options as _fast_options
    from vigil.stack.plan import default_layout
    from vigil.stack.ruleoverlay import iter_rules

    root = Path(__file__).resolve().parents[2]
    layout = default_layout(tmp_path / "state")
    fast = _fast_options(layout)
    prom = derive_prometheus(root / "prometheus" / "prometheus.yml", tmp_path / "p.yml",
                             Ports.of(), list(fast["rule_files"]), fast["prometheus_overrides"])
    am = derive_alertmanager(root / "prometheus" / "alertmanager.yml", tmp_path / "am.yml",
                             Ports.of(), tmp_path / "token", fast["alertmanager_overrides"])
    (tmp_path / "token").write_text("t")

    prom_doc = yaml.safe_load(prom.read_text())
    assert prom_doc["global"]["scrape_interval"] == "5s"
    assert prom_doc["global"]["evaluation_interval"] == "5s"
    am_doc = yaml.safe_load(am.read_text())
    waits = [am_doc["route"]["group_wait"]] + [r["group_wait"] for r in am_doc["route"]["routes"]]
    assert set(waits) == {"5s"}

    rules = [r for _, _, r in iter_rules(layout.generated / "rules-fast")]
    real = [r for _, _, r in iter_rules(root / "prometheus" / "rules")]
    assert len(rules) == len(real) > 0  # every real rule is there, compressed
    assert max(parse_duration(r.get("for", "0s")) for r in rules) <= parse_duration(FAST_FOR)
    assert any(parse_duration(r["for"]) > parse_duration(FAST_FOR) for r in real if "for" in r)

    check = subprocess.run(["promtool", "check", "config", str(prom)], capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    check = subprocess.run(["amtool", "check-config", str(am)], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stdout + check.stderr


# --- #11: a failed part is named with its own error; the timings are said -----------------

def test_up_names_the_part_that_failed_with_its_error_and_exits_non_zero(state: Path) -> None:
    """Prometheus cannot open its storage (a file where its folder goes): `vigil up` must not
    say "vigil is up", must name prometheus and show Prometheus's own error line."""
    (state / "data").mkdir(parents=True)
    (state / "data" / "prometheus").write_text("not a folder")
    port = polling.free_port()
    for mode in (["--detach"], []):  # foreground too: it stops what it started, exits 1
        proc = vigil("up", *mode, "--only", "prometheus", "--state-dir", str(state),
                     "--port", f"prometheus={port}")
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert "vigil is up" not in out
        assert "FAILED: 1 part(s) did not start: prometheus" in out
        assert "queries.active: not a directory" in out  # Prometheus's own words
        left = procs.RecordStore(state / "run").load("prometheus")
        assert left is None or not procs.is_running(left)


def test_up_and_status_say_fast_timings_are_running(state: Path) -> None:
    port = polling.free_port()
    # Every other part on a port of its own too: this Prometheus must not scrape, or alert
    # through, a stack a developer runs on the default ports meanwhile.
    ports = [a for part in ("prometheus", "exporter", "router", "sink", "reporter",
                            "alertmanager")
             for a in ("--port", f"{part}={port if part == 'prometheus' else polling.free_port()}")]
    up = vigil("up", "--detach", "--fast", "--only", "prometheus", "--state-dir", str(state),
               *ports)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "rule timings: FAST demo timings (--fast)" in up.stdout
    status = vigil("status", "--state-dir", str(state))
    assert "rule timings: FAST demo timings (--fast)" in status.stdout, status.stdout
    doc = json.loads(vigil("status", "--json", "--state-dir", str(state)).stdout)
    assert doc["timings"] == {"fast": True, "evaluation_interval": "5s"}
    # Alert links (generatorURL) name where Prometheus listens, not the machine's hostname.
    flags = httpclient.get_json(f"http://127.0.0.1:{port}/api/v1/status/flags")["data"]
    assert flags["web.external-url"] == f"http://127.0.0.1:{port}/"
    # A kept Prometheus keeps its timings: asking for real ones says so.
    again = vigil("up", "--detach", "--only", "prometheus", "--state-dir", str(state), *ports)
    assert "rule timings: FAST" in again.stdout and "you asked for real timings" in again.stdout
    vigil("down", "--state-dir", str(state))
    real = vigil("up", "--detach", "--only", "prometheus", "--state-dir", str(state), *ports)
    assert "rule timings: real: the rules' own for: and windows" in real.stdout, real.stdout
