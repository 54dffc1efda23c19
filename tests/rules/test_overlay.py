"""The compressed-timing overlay: generated from the real rules, still valid, only faster."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from support import prom

from vigil.core import durations
from vigil.core.durations import DurationError
from vigil.stack import rulefloor, ruleoverlay
from vigil.stack.ruleoverlay import RULES_DIR, OverlayError, compress_expr


@pytest.mark.parametrize(("expr", "expected"), [
    ("rate(x[5m])", "rate(x[30s])"),
    ("rate(x[10s])", "rate(x[10s])"),  # already shorter: kept
    ("increase(x[1h30m]) > 0", "increase(x[30s]) > 0"),
    ("r offset 5m or r * 0", "r offset 30s or r * 0"),
    ("max_over_time(x[1h:5m])", "max_over_time(x[30s:6s])"),
    ("max_over_time(x[1h:])", "max_over_time(x[30s:])"),
    ('x{le="[5m]", re=~"[0-9]5m"}[5m]', 'x{le="[5m]", re=~"[0-9]5m"}[30s]'),  # strings untouched
])
def test_compress_expr_caps_ranges_subqueries_and_offsets_but_not_strings(
        expr: str, expected: str) -> None:
    assert compress_expr(expr, "30s") == expected


def test_durations_round_trip() -> None:
    for text, seconds in [("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("1d", 86400),
                          ("0s", 0)]:
        assert durations.parse_prometheus(text) == seconds
        assert durations.parse_prometheus(durations.format(seconds)) == seconds
    with pytest.raises(DurationError, match="not a Prometheus duration"):
        durations.parse_prometheus("5 minutes")


def test_overlay_of_the_real_rules_passes_promtool_and_keeps_everything_but_timing(
        tmp_path: Path) -> None:
    written = ruleoverlay.compressed_rules(
        RULES_DIR, tmp_path, for_="5s", window="30s",
        policy={"vigil:policy:encryption_key_max_age_seconds": 60})
    assert [p.name for p in written] == sorted(p.name for p in RULES_DIR.glob("*.yml"))
    result = prom.promtool("check", "rules", *map(str, written))
    assert result.returncode == 0, result.stdout + result.stderr

    real = {r.get("alert") or r["record"]: r for _, _, r in ruleoverlay.iter_rules(RULES_DIR)}
    by_id = rulefloor.floors(real.values(), rulefloor.metric_intervals())
    floors = {name: by_id[id(rule)] for name, rule in real.items()}
    fast = {r.get("alert") or r["record"]: r for _, _, r in ruleoverlay.iter_rules(tmp_path)}
    assert real.keys() == fast.keys()
    for name, rule in fast.items():
        assert rule.get("labels") == real[name].get("labels"), name
        assert rule.get("annotations") == real[name].get("annotations"), name
        if "for" in rule:
            assert durations.parse_prometheus(rule["for"]) <= 5, name
        floor = floors[name]
        for window in re.findall(r"\[(\w+)", rule["expr"]):
            assert durations.parse_prometheus(window) <= max(30, floor), (name, rule["expr"])
    assert fast["vigil:policy:encryption_key_max_age_seconds"]["expr"] == "vector(60.0)"
    # policies not overridden keep their real value
    assert fast["vigil:policy:collector_stale_seconds"]["expr"] == "vector(600)"


def test_overlay_refuses_a_policy_that_names_no_rule(tmp_path: Path) -> None:
    with pytest.raises(OverlayError, match="policy names no recording rule"):
        ruleoverlay.compressed_rules(RULES_DIR, tmp_path, policy={"vigil:policy:typo": 1})


def test_overlay_alerts_fire_within_seconds_in_promtool(tmp_path: Path) -> None:
    """The overlay is what the end-to-end tests run: an integrity issue fires within 5s."""
    rules = ruleoverlay.compressed_rules(RULES_DIR, tmp_path / "rules", for_="5s", window="30s")
    test = {
        "rule_files": [str(p) for p in rules],
        "evaluation_interval": "1s",
        "tests": [{
            "interval": "1s",
            "input_series": [{
                "series": 'vigil_audit_integrity_issues{job="vigil-exporter",target="db1"}',
                "values": "0 1x20"}],
            "alert_rule_test": [
                {"eval_time": "3s", "alertname": "VigilAuditIntegrityViolation",
                 "exp_alerts": []},
                {"eval_time": "7s", "alertname": "VigilAuditIntegrityViolation",
                 "exp_alerts": [{
                     "exp_labels": {"job": "vigil-exporter", "target": "db1",
                                    "severity": "P1", "kind": "security"},
                     "exp_annotations": {
                         k: v.replace("{{ $value }}", "1").replace("{{ $labels.target }}", "db1")
                         for k, v in _integrity_annotations().items()}}]},
            ],
        }],
    }
    path = tmp_path / "overlay_test.yml"
    path.write_text(yaml.safe_dump(test))
    result = prom.promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def _integrity_annotations() -> dict[str, str]:
    for _, _, rule in ruleoverlay.iter_rules(RULES_DIR):
        if rule.get("alert") == "VigilAuditIntegrityViolation":
            return {k: " ".join(str(v).split()) for k, v in rule["annotations"].items()}
    raise AssertionError("VigilAuditIntegrityViolation is gone")


# `vigil up --fast` (vigil/stack/cli.py): FAST_FOR, FAST_WINDOW, FAST_INTERVAL.
FAST = {"for_": "20s", "window": "1m"}
SCRAPE = 5  # seconds


def test_overlay_windows_are_at_least_2_5_collector_intervals(tmp_path: Path) -> None:
    ruleoverlay.compressed_rules(RULES_DIR, tmp_path, **FAST)
    fast = {r.get("alert") or r["record"]: r for _, _, r in ruleoverlay.iter_rules(tmp_path)}
    rec = fast["target:vigil_encryption_failed_operations:increase5m"]["expr"]
    assert "[2m30s]" in rec  # the security collector runs every 60 s: 2.5 x 60 s
    phi = fast["target_table:vigil_phi_query_duration_seconds:p95_rate5m"]["expr"]
    assert "[1m]" in phi  # phi runs every 15 s: 37.5 s, below the 1m cap, so 1m
    router = fast["VigilEscalationSlaBreached"]["expr"]
    assert "[1m]" in router  # not an exporter collector: the cap alone


def _no_flap_test(rules: list[Path], minutes: int = 12) -> dict[str, object]:
    """A failed encryption and slow encryptions every minute, as the 60 s collectors publish
    them: a step about every 60 s (50 s, then 70 s: a run's duration varies and the scrape
    sees it up to a scrape later), scraped every 5 s. Both alerts must fire and then stay
    firing at every evaluation."""
    n = minutes * 60 // SCRAPE
    gaps = (50 // SCRAPE, 70 // SCRAPE)
    step_at, at, k = [], 0, 0
    while at < n:
        step_at.append(at)
        at += gaps[k % 2]
        k += 1

    def steps(per_step: int) -> str:
        return " ".join(str(sum(1 for a in step_at if a <= i) * per_step) for i in range(n))

    base = 'job="vigil-exporter",instance="e:1",target="db1"'
    series = [{"series": f"vigil_encryption_failed_operations_total{{{base}}}",
               "values": steps(1)}]
    for le, per_step in (("0.1", 5), ("0.25", 10), ("+Inf", 10)):
        series.append({
            "series": f'vigil_encryption_duration_seconds_bucket{{{base},operation="decrypt",'
                      f'le="{le}"}}', "values": steps(per_step)})
    checks = []
    for t in range(6 * 60, minutes * 60 - SCRAPE, SCRAPE):
        for alert in ("VigilEncryptionFailures", "VigilEncryptionSlow"):
            checks.append({"expr": f'count(ALERTS{{alertname="{alert}",alertstate="firing"}})',
                           "eval_time": f"{t}s", "exp_samples": [{"labels": "{}",
                                                                  "value": 1}]})
    return {"rule_files": [str(p) for p in rules], "evaluation_interval": f"{SCRAPE}s",
            "tests": [{"interval": f"{SCRAPE}s", "input_series": series,
                       "promql_expr_test": checks}]}


def test_fast_overlay_does_not_flap_over_60s_collectors(tmp_path: Path) -> None:
    rules = ruleoverlay.compressed_rules(RULES_DIR, tmp_path / "rules", **FAST)
    path = tmp_path / "no_flap_test.yml"
    path.write_text(yaml.safe_dump(_no_flap_test(rules)))
    result = prom.promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_without_the_floor_the_same_overlay_flaps(tmp_path: Path) -> None:
    """The no-flap test above can fail: the overlay as it was (1m windows) flaps."""
    rules = ruleoverlay.compressed_rules(RULES_DIR, tmp_path / "rules", **FAST,
                                       collector_intervals={"security": 0, "encryption": 0})
    path = tmp_path / "no_flap_test.yml"
    path.write_text(yaml.safe_dump(_no_flap_test(rules)))
    result = prom.promtool("test", "rules", str(path))
    assert result.returncode != 0
    assert "VigilEncryptionFailures" in result.stdout + result.stderr


def test_overlay_times_the_audit_pipeline_alerts_and_takes_their_policies(
        tmp_path: Path) -> None:
    """Issue #16: the sealer/buffer alerts fire within seconds in the overlay, and a test can
    lower the buffer-age policy (900 s) the way it lowers the key-age one."""
    rules = ruleoverlay.compressed_rules(
        RULES_DIR, tmp_path / "rules", for_="5s", window="30s",
        policy={"vigil:policy:audit_buffer_oldest_max_seconds": 10})
    series = 'job="vigil-exporter",target="db1"'
    test = {
        "rule_files": [str(p) for p in rules],
        "evaluation_interval": "1s",
        "tests": [{
            "interval": "1s",
            "input_series": [
                {"series": f"vigil_audit_sealers_alive{{{series}}}", "values": "1 0x20"},
                {"series": f"vigil_audit_buffer_oldest_age_seconds{{{series}}}",
                 "values": "0 11+1x20"}],
            "alert_rule_test": [
                {"eval_time": f"{t}s", "alertname": name,
                 "exp_alerts": [] if t == 3 else [{
                     "exp_labels": {"job": "vigil-exporter", "target": "db1",
                                    "severity": "P2", "kind": "security"},
                     "exp_annotations": _annotations(name, value)}]}
                for name, value in (("VigilAuditSealerDown", "0"),
                                    ("VigilAuditBufferStale", "18s")) for t in (3, 8)],
        }],
    }
    path = tmp_path / "audit_pipeline_overlay_test.yml"
    path.write_text(yaml.safe_dump(test))
    result = prom.promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def _annotations(alert: str, value: str) -> dict[str, str]:
    """The alert's annotations rendered for target db1 and the given $value text."""
    for _, _, rule in ruleoverlay.iter_rules(RULES_DIR):
        if rule.get("alert") == alert:
            return {k: re.sub(r"\{\{ \$value[^}]*\}\}", value, " ".join(str(v).split()))
                    .replace("{{ $labels.target }}", "db1")
                    for k, v in rule["annotations"].items()}
    raise AssertionError(f"{alert} is gone")
