"""`vigil metrics verify` asks a real Prometheus, and names the failing or unscraped collector."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import prom
from support.httpstub import HttpStub
from support.polling import free_port, wait_for

from vigil import cli
from vigil.core.prom import Prom
from vigil.metrics.verify import Problem, verify
from vigil.stack import ruleoverlay

pytestmark = pytest.mark.timeout(300)


class FakeExporter:
    """Serves whatever exposition the test sets; stops answering when stopped."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.stub = HttpStub(lambda _: (200, "text/plain; version=0.0.4",
                                        self.exposition().encode()))
        self.address = self.stub.address
        self.errors = 0

    def exposition(self) -> str:
        now = time.time()
        lines = ['vigil_up{target="demo"} 1']
        for c in ("rls", "security"):
            ok = c not in self.failing
            if not ok:
                self.errors += 1
            lines += [f'vigil_collector_success{{target="demo",collector="{c}"}} {int(ok)}',
                      f'vigil_collector_last_success_timestamp_seconds{{target="demo",'
                      f'collector="{c}"}} {now if ok else now - 5}',
                      f'vigil_collector_errors_total{{target="demo",collector="{c}",'
                      f'reason="timeout"}} {0 if ok else self.errors}']
        return "\n".join(lines) + "\n"


@pytest.fixture
def exporter() -> Iterator[FakeExporter]:
    fake = FakeExporter()
    with fake.stub:  # closed on the way out
        yield fake


@pytest.fixture
def prometheus(exporter: FakeExporter, tmp_path: Path) -> Iterator[str]:
    rules = ruleoverlay.compressed_rules(ruleoverlay.RULES_DIR, tmp_path / "rules")
    config = prom.prometheus_test_config(
        tmp_path / "prometheus.yml", targets={"vigil-exporter": [exporter.address]},
        rule_files=rules)
    proc = prom.start_prometheus(config)
    try:
        prom.wait_for_targets_up(proc.url, ["vigil-exporter"])
        yield proc.url
    finally:
        proc.stop()


def _problems(url: str) -> list[Problem]:
    return verify(Prom(url), time.time())[0]


def _wait(url: str, pred: Callable[[list[Problem]], bool], what: str) -> list[Problem]:
    def check() -> list[Problem] | None:
        found = _problems(url)
        return found if pred(found) else None

    found: list[Problem] = wait_for(check, timeout=60, interval=0.5, describe=what)
    return found


def test_verify_passes_then_names_a_failing_collector_then_an_unscraped_one(
        exporter: FakeExporter, prometheus: str, capsys: pytest.CaptureFixture[str]) -> None:
    wait_for(lambda: _problems(prometheus) == [], timeout=60,
             describe="a clean verify (targets up, every rule group evaluated)")
    assert cli.main(["metrics", "verify", "--prometheus-url", prometheus]) == 0
    assert capsys.readouterr().out.startswith("OK:")

    exporter.failing.add("security")
    _wait(prometheus, lambda ps: any(p.name == "demo/security" for p in ps),
          "the failing collector to be reported")
    assert cli.main(["metrics", "verify", "--prometheus-url", prometheus]) == 1
    out = capsys.readouterr().out
    assert "STALE collector demo/security: last run failed (timeout)" in out
    assert "demo/rls" not in out

    exporter.stub.close()  # Prometheus can no longer scrape: every collector goes stale
    _wait(prometheus, lambda ps: any(p.kind == "target" for p in ps)
          and {p.name for p in ps if "stopped scraping" in p.reason} >= {"demo/rls"},
          "the unscraped target and collectors to be reported")
    assert cli.main(["metrics", "verify", "--prometheus-url", prometheus]) == 1
    out = capsys.readouterr().out
    assert f"STALE target vigil-exporter http://{exporter.address}/metrics: down" in out
    assert ("STALE collector demo/rls: no fresh samples: Prometheus stopped scraping it"
            in out)


def test_verify_fails_when_prometheus_is_not_there(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert cli.main(["metrics", "verify", "--prometheus-url", f"http://127.0.0.1:{port}"]) == 1
    assert "did not answer" in capsys.readouterr().err


def test_verify_names_a_rule_group_that_fails_to_evaluate(
        exporter: FakeExporter, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yml"
    # two series on the "one" side: every evaluation fails with a matching error
    broken.write_text("groups:\n  - name: broken-group\n    rules:\n"
                      "      - record: x:broken\n"
                      "        expr: vigil_collector_success * on() group_left() "
                      "vigil_collector_success\n")
    config = prom.prometheus_test_config(
        tmp_path / "prometheus.yml", targets={"vigil-exporter": [exporter.address]},
        rule_files=[broken])
    proc = prom.start_prometheus(config)
    try:
        prom.wait_for_targets_up(proc.url, ["vigil-exporter"])
        _wait(proc.url, lambda ps: any(p.kind == "rule_group" for p in ps),
              "the broken rule group to be reported")
        assert cli.main(["metrics", "verify", "--prometheus-url", proc.url]) == 1
    finally:
        proc.stop()
    out = capsys.readouterr().out
    assert "STALE rule_group broken-group: rule x:broken:" in out
    assert "STALE collector" not in out  # the collectors themselves are fine
