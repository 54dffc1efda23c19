"""Grafana dashboards: generated from grafana/build_dashboards.py, provisioned, drawing the
alert thresholds, and every panel query answered by a real Prometheus under the demo load."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from support import polling, prom

from vigil.stack import ruleoverlay
from vigil.stack.ruleoverlay import RULES_DIR

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_dashboards",
                                                  GRAFANA / "build_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _panels(dash: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target, template variable and annotation."""
    out: list[tuple[str, str]] = []
    for path in DASHBOARDS:
        dash = _load(path)
        for panel in _panels(dash):
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']} [{target['refId']}]",
                            target["expr"]))
        for var in dash["templating"]["list"]:
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["definition"])
            assert m, f"{path.name}: variable {var['name']}: unsupported {var['definition']}"
            out.append((f"{path.name}: variable ${var['name']}",
                        f"count by ({m.group(2)}) ({m.group(1)})"))
        for ann in dash["annotations"]["list"]:
            out.append((f"{path.name}: annotation {ann['name']}", ann["expr"]))
    return out


def concrete(expr: str) -> str:
    """A Grafana query as Prometheus would get it with "All" selected."""
    return (expr.replace("$__rate_interval", "15s").replace("$target", ".*")
            .replace("$table", ".*"))


def test_committed_json_is_what_the_builder_generates() -> None:
    rendered = _builder().render()
    assert sorted(rendered) == [p.name for p in DASHBOARDS]
    for path in DASHBOARDS:
        assert path.read_text() == rendered[path.name], (
            f"{path.name} is stale: run .venv/bin/python grafana/build_dashboards.py")


def test_the_dashboards_the_runbook_needs_exist_with_target_and_table_variables() -> None:
    by_uid = {_load(p)["uid"]: _load(p) for p in DASHBOARDS}
    assert set(by_uid) == {"vigil-overview", "vigil-rls", "vigil-encryption-phi",
                           "vigil-audit", "vigil-security", "vigil-router"}
    for uid in ("vigil-overview", "vigil-rls", "vigil-encryption-phi", "vigil-audit"):
        names = [v["name"] for v in by_uid[uid]["templating"]["list"]]
        assert names == ["target", "table"], uid
    for dash in by_uid.values():
        ids = [p["id"] for p in _panels(dash)]
        assert len(ids) == len(set(ids)), dash["uid"]
        for panel in _panels(dash):
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": "vigil-prometheus"}
                assert panel["targets"], f"{dash['uid']}: {panel['title']} has no query"


def _rule_number(kind: str, name: str, pattern: str) -> float:
    """The number ``pattern`` finds in the expression of the rule ``kind: name``."""
    rule = next((r for _, _, r in ruleoverlay.iter_rules(RULES_DIR) if r.get(kind) == name),
                None)
    assert rule is not None, f"no {kind} {name}"
    m = re.search(pattern, rule["expr"].strip())
    assert m, f"{name}: no number matching {pattern!r} in {rule['expr']!r}"
    return float(m.group(1))


def _alert_threshold(name: str) -> float:
    return _rule_number("alert", name, r">\s*([0-9.]+)\s*$")


def _red_line(dash: dict[str, Any], title_start: str) -> float:
    for panel in _panels(dash):
        if panel["title"].startswith(title_start):
            defaults = panel["fieldConfig"]["defaults"]
            assert defaults["custom"]["thresholdsStyle"]["mode"] == "line"
            return float(defaults["thresholds"]["steps"][-1]["value"])
    raise AssertionError(f"no panel {title_start!r} in {dash['uid']}")


def test_overview_draws_the_three_runbook_thresholds_the_alerts_fire_on() -> None:
    overview = _load(GRAFANA / "dashboards" / "vigil-overview.json")
    assert _red_line(overview, "RLS overhead") == _alert_threshold("VigilRlsOverheadHigh") == 0.05
    assert _red_line(overview, "PHI query time") == _alert_threshold("VigilPhiQuerySlow") == 0.1
    assert _red_line(overview, "Audit write time") == _alert_threshold("VigilAuditWriteSlow") \
        == 0.01
    enc = _load(GRAFANA / "dashboards" / "vigil-encryption-phi.json")
    assert _red_line(enc, "Encryption p95") == _alert_threshold("VigilEncryptionSlow") == 0.1


def _policy(name: str) -> float:
    return _rule_number("record", name, r"^vector\(([0-9.]+)\)$")


def test_audit_dashboard_draws_the_audit_pipeline_policies_the_alerts_fire_on() -> None:
    audit = _load(GRAFANA / "dashboards" / "vigil-audit.json")
    for title, policy in (
            ("Oldest unsealed audit row", "vigil:policy:audit_buffer_oldest_max_seconds"),
            ("Seal lag per sealer", "vigil:policy:audit_seal_lag_max_seconds"),
            ("Since the last maintenance run", "vigil:policy:maintenance_max_age_seconds"),
            ("Access rollup lag", "vigil:policy:rollup_lag_max_seconds")):
        assert _red_line(audit, title) == _policy(policy), title
    exprs = {t["expr"] for p in _panels(audit) for t in p.get("targets", [])}
    for metric in ("vigil_audit_buffer_rows", "vigil_audit_sealers_alive",
                   "vigil_audit_sealed_rows_total", "vigil_audit_chain_verified_through_seq",
                   "vigil_maintenance_rollup_lag_seconds"):
        assert any(metric in e for e in exprs), metric


def test_router_dashboard_draws_each_levels_response_time() -> None:
    router = _load(GRAFANA / "dashboards" / "vigil-router.json")
    for sev, minutes in (("P1", 15), ("P2", 60), ("P3", 240), ("P4", 1440)):
        assert _red_line(router, f"{sev}: time to ack") == minutes * 60


def test_provisioning_points_at_the_dashboards_and_the_datasource_uid() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "vigil.yml").read_text())
    (source,) = ds["datasources"]
    assert source["uid"] == "vigil-prometheus" and source["type"] == "prometheus"
    assert source["url"] == "http://127.0.0.1:9090"
    prov = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "vigil.yml").read_text())
    (provider,) = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


# Queries that may rightly be empty on a healthy demo: they show firing alerts.
MAY_BE_EMPTY = re.compile(r"\bALERTS\{")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_panel_query_and_recording_rule_returns_data_from_the_live_stack(
        admin_dsn: str, tmp_path: Path) -> None:
    from rules.live import live_stack

    with live_stack(admin_dsn, tmp_path, rule_files=sorted(RULES_DIR.glob("*.yml"))) as live:
        _exercise_router(live)
        wanted = [(where, concrete(expr)) for where, expr in queries()]
        wanted += [(f"recording rule {rule['record']}", rule["record"])
                   for _, _, rule in ruleoverlay.iter_rules(RULES_DIR) if "record" in rule]
        wanted += [(f"recording rule {rule['record']} (expression)", rule["expr"])
                   for _, _, rule in ruleoverlay.iter_rules(RULES_DIR) if "record" in rule]
        missing: dict[str, str] = {}

        def every_query_has_data() -> bool:
            missing.clear()
            for where, expr in wanted:
                # A parse error raises PromToolsError at once: never retried, always fatal.
                result = prom.query(live.prom.url, expr)
                # A series is data. Its value may be NaN (a quantile or ratio over a window with
                # no events, e.g. no P1 acked yet): the series exists, the event did not happen.
                if not result and not MAY_BE_EMPTY.search(expr):
                    missing[where] = expr
            return not missing

        polling.wait_for(every_query_has_data, timeout=120, interval=2,
                         describe="data for every panel query and recording rule",
                         explain=lambda: "queries without data:\n" + "\n".join(
                             f"  {w}: {e}" for w, e in missing.items()) + "\n" + live.explain())


def _exercise_router(live: Any) -> None:
    """One alert per level, each posted twice (a duplicate), escalated, then acknowledged:
    gives the router's received, duplicate, escalation, notification and time-to-ack series
    (per severity) a value."""
    now = datetime.now(UTC)
    for i, sev in enumerate(("P1", "P2", "P3", "P4")):
        alert = {"status": "firing",
                 "labels": {"alertname": "DashboardProbe", "severity": sev, "target": "probe"},
                 "annotations": {"summary": "dashboard test"},
                 "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
                 "generatorURL": "http://prometheus/graph", "fingerprint": f"{i:016x}"}
        payload = {"version": "4", "groupKey": f'{{}}:{{severity="{sev}"}}',
                   "truncatedAlerts": 0, "status": "firing", "receiver": f"router-{sev.lower()}",
                   "groupLabels": {"severity": sev}, "commonLabels": alert["labels"],
                   "commonAnnotations": alert["annotations"], "externalURL": "http://am",
                   "alerts": [alert]}
        live.router_api("/api/v1/alertmanager", payload)
        live.router_api("/api/v1/alertmanager", payload)
    alerts = polling.wait_for(
        lambda: (a := live.router_api("/api/v1/alerts").get("alerts")) and len(a) == 4 and a,
        timeout=20, describe="the four probe alerts at the router")
    polling.wait_for(
        lambda: prom.query(live.prom.url, "vigil_router_notifications_total"),
        timeout=30, describe="a notification attempt by the router",
        retry_on=(prom.PromToolsError,))
    for alert in alerts:
        live.router_api(f"/api/v1/alerts/{alert['id']}/ack", {"who": "test", "note": "probe"})
