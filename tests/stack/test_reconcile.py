"""#11: an alert that was firing at `vigil down` and healed meanwhile is resolved by the next
`vigil up` once the new Prometheus has evaluated its rules (it used to stay open for its
level's stale_after: 8.5 h for P3); one still firing keeps its id and escalation.

The real router and the real Prometheus, started by vigil.stack on free ports: the router
heard of two alerts before "the restart" (posted as Alertmanager posts them), then `up`
starts a Prometheus whose only rule keeps one of them firing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rules.live import private_stack, start
from support import prom

from vigil.core import httpclient

pytestmark = pytest.mark.timeout(120)


def am_alert(name: str) -> dict[str, object]:
    return {"status": "firing", "labels": {"alertname": name, "severity": "P3",
                                           "monitor": "vigil"},  # Prometheus's external label
            "annotations": {"summary": name}, "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": f"fp-{name}"}


def test_up_resolves_alerts_that_stopped_firing_while_the_stack_was_down(
        admin_dsn: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "still", "rules": [
        {"alert": "StillFiring", "expr": "vector(1)", "labels": {"severity": "P3"}}]}]}))
    with private_stack(admin_dsn, tmp_path, "reconcile", rule_files=(str(rules),),
                       prometheus_overrides=prom.fast_prometheus(["vigil-router"],
                                                                 alertmanagers=[])) as live:
        start(live, ("sink", "router"))
        httpclient.post_json(f"{live.router}/api/v1/alertmanager", {
            "receiver": "vigil-router", "status": "firing", "version": "4", "groupKey": "{}",
            "alerts": [am_alert("HealedWhileDown"), am_alert("StillFiring")],
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093"},
            headers={"Authorization": f"Bearer {live.token}"})
        before = {a["alertname"]: a for a in live.router_api("/api/v1/alerts")["alerts"]}
        assert {a["status"] for a in before.values()} == {"open"}

        start(live, ("prometheus",))  # `vigil up` starting a new Prometheus

        after = {a["alertname"]: a for a in live.router_api("/api/v1/alerts")["alerts"]}
        assert after["HealedWhileDown"]["status"] == "resolved"
        assert after["HealedWhileDown"]["resolved_by"] == "vigil up"
        assert after["StillFiring"]["status"] == "open"  # Prometheus still fires it
        assert after["StillFiring"]["id"] == before["StillFiring"]["id"]
        events = live.router_api(f"/api/v1/alerts/{after['HealedWhileDown']['id']}/timeline")
        assert any("restarted" in str(e.get("detail")) for e in events["events"]), events
