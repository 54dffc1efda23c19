"""`vigil up` runs the reporter, and Prometheus scrapes it."""

from __future__ import annotations

from pathlib import Path

import yaml

from vigil.stack.parts import ORDER
from vigil.stack.plan import Layout, Ports, repo_root
from vigil.stack.runner import Stack


def test_the_stack_runs_the_reporter_on_its_port_and_prometheus_scrapes_it(
        tmp_path: Path) -> None:
    stack = Stack(Layout(root=repo_root(), state=tmp_path / "state"), say=lambda _: None)
    reporter = stack.services()["reporter"]
    assert reporter.missing is None
    argv = " ".join(reporter.argv)
    ports = Ports.of()
    assert "report schedule" in argv
    assert f"--store {tmp_path / 'state' / 'reports'}" in argv
    assert f"--listen 127.0.0.1:{ports.reporter}" in argv
    assert f"--prometheus-url http://127.0.0.1:{ports.prometheus}" in argv
    assert "--dsn" not in reporter.argv  # from the environment, never on a command line
    assert reporter.health_url == f"http://127.0.0.1:{ports.reporter}/-/healthy"
    assert ORDER.index("reporter") > ORDER.index("prometheus")
    prom = yaml.safe_load((repo_root() / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    assert jobs["vigil-report"]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{ports.reporter}"]
