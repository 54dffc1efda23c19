"""The exporter as a real process: a real Prometheus scrapes it, promtool accepts its output,
docs/metrics.md matches the live /metrics, and SIGTERM stops it cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from exporter_helpers import parse
from support import polling, prom

from vigil.core import httpclient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def exporter_proc(fresh_db: str, tmp_path: Path) -> Iterator[str]:
    port = polling.free_port()
    cfg = {
        # Every collector (ten, plus the ping) starts at once without jitter: a waiting queue
        # for all of them, so the first ping is not refused by the pool's bounded queue.
        "targets": [{"name": "db1", "dsn": fresh_db, "pool": {"max_waiting": 16}}],
        "state_dir": str(tmp_path / "state"),
        "scheduler": {"start_jitter": "0s"},
        "collectors": {n: {"interval": "1s"} for n in
                       ("rls", "encryption", "audit", "phi", "security", "indexes",
                        "audit_pipeline", "maintenance", "controls")},
        "custom_collectors": [{"name": "app", "interval": "1s", "queries": [{
            "sql": "SELECT 'x' AS kind, 0.02 AS value",
            "metrics": [{"name": "app_example_seconds", "type": "histogram", "help": "e",
                         "labels": ["kind"], "buckets": [0.01, 0.1]}]}]}],
    }
    (tmp_path / "exporter.yml").write_text(yaml.safe_dump(cfg))
    proc = polling.child(
        [sys.executable, "-m", "vigil.cli", "exporter", "--config", str(tmp_path / "exporter.yml"),
         "--web.listen-address", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, "exporter did not start"
        return httpclient.is_healthy(f"{url}/-/ready")

    polling.wait_for(ready, timeout=20, interval=0.05, describe="the exporter to start")
    try:
        yield url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def scrape(url: str) -> str:
    return httpclient.request(f"{url}/metrics", timeout=2)[1].decode()


def test_prometheus_scrapes_and_promtool_finds_no_problems(exporter_proc: str,
                                                            tmp_path: Path) -> None:
    polling.wait_for(lambda: "vigil_collector_success" in scrape(exporter_proc)
                     and "app_example_seconds_count" in scrape(exporter_proc),
                     timeout=15, interval=0.1, describe="first collections")
    text = scrape(exporter_proc)
    check = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                           capture_output=True, check=False)
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), \
        check.stdout + check.stderr
    target = exporter_proc.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "vigil", "static_configs": [{"targets": [target]}]}]}))
    with prom.start_prometheus(config) as server:
        polling.wait_for(lambda: prom.query(server.url, 'vigil_up{target="db1"} == 1'),
                         timeout=30, interval=0.2, describe="vigil_up scraped")
        got = prom.query(server.url, 'vigil_collector_errors_total{reason="missing_object"}')
        assert {r["metric"]["collector"] for r in got} >= {"rls", "audit", "security",
                                                          "audit_pipeline", "maintenance"}
        assert prom.query(server.url, 'app_example_seconds_bucket{le="0.1"} > 0')


def test_docs_metrics_table_matches_live_metrics(exporter_proc: str) -> None:
    polling.wait_for(lambda: "vigil_pool_size" in scrape(exporter_proc), timeout=15,
                     interval=0.1, describe="pool stats")
    live = {m for m in re.findall(r"^# TYPE (\S+) ", scrape(exporter_proc), re.M)
            if not m.startswith("app_")}
    live = {m.removesuffix("_total") for m in live}
    doc = (ROOT / "docs" / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)(?:\{[^`]*\})?` \|", doc, re.M))
    # prometheus_client names counters without _total in TYPE lines
    documented_base = {d.removesuffix("_total") for d in documented}
    assert live == documented_base, (sorted(live - documented_base),
                                     sorted(documented_base - live))
    samples = parse(scrape(exporter_proc))
    assert all(("target", "db1") in lv for (_, lv) in samples)


def test_sigterm_stops_the_exporter_cleanly(fresh_db: str, tmp_path: Path) -> None:
    port = polling.free_port()
    (tmp_path / "e.yml").write_text(yaml.safe_dump({
        "targets": [{"name": "db1", "dsn": fresh_db}], "state_dir": str(tmp_path)}))
    proc = polling.child([sys.executable, "-m", "vigil.cli", "exporter", "--config",
                          str(tmp_path / "e.yml"), "--web.listen-address",
                          f"127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    polling.wait_for(lambda: httpclient.is_healthy(f"http://127.0.0.1:{port}/-/healthy"),
                     timeout=20, interval=0.05, describe="the exporter to be healthy")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
