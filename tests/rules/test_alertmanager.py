"""alertmanager.yml: amtool checks and routes, and the real Alertmanager delivering to a
stand-in for the router (bearer token, grouping, inhibition)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import polling, prom
from support.httpstub import HttpStub

from vigil.core import httpclient
from vigil.stack.ruleoverlay import PROMETHEUS_DIR

AM_CONFIG = PROMETHEUS_DIR / "alertmanager.yml"
ROUTER_URL = "http://127.0.0.1:18091/api/v1/alertmanager"


def test_amtool_check_config_passes() -> None:
    result = prom.amtool("check-config", str(AM_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(("labels", "receiver"), [
    (["severity=P1", "alertname=VigilAuditIntegrityViolation"], "router-p1"),
    (["severity=P2", "alertname=VigilFailedAccessSpike"], "router-p2"),
    (["severity=P3", "alertname=VigilRlsOverheadHigh"], "router-p3"),
    (["severity=P4", "alertname=VigilEncryptionKeyTooOld"], "router-p4"),
    (["severity=critical", "alertname=Foreign"], "router-default"),
    (["alertname=NoSeverity"], "router-default"),
])
def test_amtool_routes_each_severity_to_its_receiver(labels: list[str], receiver: str) -> None:
    result = prom.amtool("config", "routes", "test", f"--config.file={AM_CONFIG}",
                              f"--verify.receivers={receiver}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_route_test_fails_for_a_wrong_receiver() -> None:
    result = prom.amtool("config", "routes", "test", f"--config.file={AM_CONFIG}",
                              "--verify.receivers=router-p4", "severity=P1")
    assert result.returncode != 0


def test_every_receiver_is_the_router_webhook_with_bearer_auth_and_resolves() -> None:
    doc = yaml.safe_load(AM_CONFIG.read_text())
    assert {r["name"] for r in doc["receivers"]} == {
        "router-default", "router-p1", "router-p2", "router-p3", "router-p4"}
    for receiver in doc["receivers"]:
        (hook,) = receiver["webhook_configs"]
        assert hook["url"] == ROUTER_URL
        assert hook["send_resolved"] is True
        auth = hook["http_config"]["authorization"]
        assert auth["type"] == "Bearer" and "credentials_file" in auth
        assert "credentials" not in auth  # never an inline secret


class _Sink:
    """A stand-in for the router's webhook: records (authorization, payload) per POST."""

    def __init__(self) -> None:
        self.stub = HttpStub(lambda _: (200, "application/json", b"{}"))
        self.url = f"{self.stub.url}/api/v1/alertmanager"

    @property
    def received(self) -> list[tuple[str, dict[str, Any]]]:
        return [(r.headers.get("Authorization", ""), json.loads(r.body))
                for r in self.stub.seen() if r.method == "POST"]

    def alertnames(self) -> dict[str, set[str]]:
        """alertname -> targets seen firing."""
        out: dict[str, set[str]] = {}
        for _, payload in self.received:
            for alert in payload["alerts"]:
                if alert["status"] == "firing":
                    labels = alert["labels"]
                    out.setdefault(labels["alertname"], set()).add(labels.get("target", ""))
        return out


@pytest.fixture
def sink() -> Iterator[_Sink]:
    s = _Sink()
    with s.stub:  # closed on the way out
        yield s


def _post_alerts(am_url: str, alerts: list[dict[str, str]]) -> None:
    now = datetime.now(UTC)
    body = [{"labels": labels, "annotations": {"summary": "s"}, "startsAt": now.isoformat(),
             "endsAt": (now + timedelta(minutes=5)).isoformat()} for labels in alerts]
    status, _ = httpclient.request(f"{am_url}/api/v2/alerts", method="POST", body=body,
                                   timeout=5)
    assert status == 200


@pytest.mark.slow
def test_real_alertmanager_delivers_with_the_bearer_token_and_inhibits_a_down_targets_alerts(
        tmp_path: Path, sink: _Sink) -> None:
    # the real config, next to a token file under its real relative name
    (tmp_path / "router-webhook.token").write_text("s3cret-token\n")
    config = prom.alertmanager_test_config(
        tmp_path / "alertmanager.yml", webhook_url=sink.url, group_wait="1s",
        group_interval="1s")
    with prom.start_alertmanager(config) as am:
        down = {"alertname": "VigilTargetDown", "severity": "P2", "kind": "health",
                "target": "db1", "job": "vigil-exporter"}
        _post_alerts(am.url, [down])
        polling.wait_for(lambda: "VigilTargetDown" in sink.alertnames(), timeout=20,
                         describe="VigilTargetDown at the sink")
        _post_alerts(am.url, [
            down,
            # inhibited: a performance alert and a collector alert of the down target
            {"alertname": "VigilRlsOverheadHigh", "severity": "P3", "kind": "performance",
             "target": "db1", "table": "deal"},
            {"alertname": "VigilCollectorFailing", "severity": "P3", "kind": "health",
             "target": "db1", "collector": "rls"},
            # not inhibited: another target's performance, and the down target's security
            {"alertname": "VigilRlsOverheadHigh", "severity": "P3", "kind": "performance",
             "target": "db2", "table": "deal"},
            {"alertname": "VigilAuditIntegrityViolation", "severity": "P1", "kind": "security",
             "target": "db1"},
        ])
        polling.wait_for(
            lambda: {"VigilRlsOverheadHigh", "VigilAuditIntegrityViolation"}
            <= sink.alertnames().keys(), timeout=20, describe="the uninhibited alerts")
        # all five were posted together with the same group_wait: the inhibited groups
        # would have flushed alongside the uninhibited ones
        seen = sink.alertnames()
        assert seen["VigilRlsOverheadHigh"] == {"db2"}
        assert seen["VigilAuditIntegrityViolation"] == {"db1"}
        assert "VigilCollectorFailing" not in seen
        received = sink.received
        assert {auth for auth, _ in received} == {"Bearer s3cret-token"}
        assert all(payload["version"] == "4" for _, payload in received)
