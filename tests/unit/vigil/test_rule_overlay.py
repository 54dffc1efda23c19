"""The compressed-timing rule overlay (``vigil up --fast``): windows capped, but never below
the floor the collectors' intervals set (vigil/stack/rulefloor.py), policies replaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from vigil.stack import rulefloor, ruleoverlay

INTERVALS = {"fast_metric": 15.0, "slow_metric": 60.0, "slow_hist_bucket": 60.0}


def test_names_skip_string_literals() -> None:
    found = rulefloor.names('rate(slow_metric{job="fast_metric"}[5m])')
    assert {"rate", "slow_metric"} <= found      # function names match no metric: harmless
    assert "fast_metric" not in found


def test_a_rule_may_not_look_at_less_than_two_and_a_half_intervals() -> None:
    rules = [{"alert": "A", "expr": "rate(fast_metric[1m]) > 0"},
             {"alert": "B", "expr": "rate(fast_metric[1m]) / rate(slow_metric[1m])"},
             {"alert": "C", "expr": "vector(1)"}]
    floors = rulefloor.floors(rules, INTERVALS)
    assert [floors[id(r)] for r in rules] == [37.5, 150.0, 0.0]


def test_recording_rules_pass_their_inputs_interval_on_through_a_chain() -> None:
    rules = [{"alert": "Late", "expr": "job:two > 1"},          # defined before its inputs
             {"record": "job:two", "expr": "job:one * 2"},
             {"record": "job:one", "expr": "sum(rate(slow_hist_bucket[5m]))"}]
    floors = rulefloor.floors(rules, INTERVALS)
    assert {floors[id(r)] for r in rules} == {150.0}


def test_metric_intervals_come_from_the_built_in_collectors() -> None:
    defaults = rulefloor.metric_intervals()
    assert defaults["vigil_audit_write_duration_seconds_bucket"] == \
        defaults["vigil_audit_write_duration_seconds"]
    assert defaults["vigil_rls_overhead_seconds"] >= 60.0
    faster = rulefloor.metric_intervals({"rls": 1.0})
    assert faster["vigil_rls_overhead_seconds"] == 1.0


def write_rules(directory: Path, rules: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.yml").write_text(yaml.safe_dump(
        {"groups": [{"name": "app", "rules": rules}]}))
    return directory


def read_rules(path: Path) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    return {r.get("alert") or r["record"]: r for r in doc["groups"][0]["rules"]}


def test_the_overlay_caps_for_and_windows_but_keeps_labels(tmp_path: Path) -> None:
    src = write_rules(tmp_path / "src", [
        {"alert": "Slow", "expr": "rate(vigil_audit_write_duration_seconds_count[10m]) > 0",
         "for": "10m", "labels": {"severity": "P3"}},
        {"alert": "Quick", "expr": "up == 0", "for": "2s"},
    ])
    [out] = ruleoverlay.compressed_rules(src, tmp_path / "dst", for_="20s", window="1m")
    rules = read_rules(out)
    assert rules["Slow"]["for"] == "20s" and rules["Slow"]["labels"] == {"severity": "P3"}
    assert "[1m]" in rules["Slow"]["expr"]
    assert rules["Quick"]["for"] == "2s"                     # already shorter: kept


def test_the_overlay_never_caps_below_the_collectors_floor(tmp_path: Path) -> None:
    src = write_rules(tmp_path / "src", [
        {"alert": "Rls", "expr": "max_over_time(vigil_rls_overhead_seconds[1h]) > 0.05"}])
    [out] = ruleoverlay.compressed_rules(src, tmp_path / "dst", window="30s",
                                       collector_intervals={"rls": 60.0})
    assert "[2m30s]" in read_rules(out)["Rls"]["expr"]      # 2.5 x 60 s, not 30 s


def test_a_policy_replaces_a_recording_rule_and_a_typo_in_it_fails(tmp_path: Path) -> None:
    src = write_rules(tmp_path / "src", [
        {"record": "vigil:policy:max_age", "expr": "vector(7776000)"}])
    [out] = ruleoverlay.compressed_rules(src, tmp_path / "dst",
                                       policy={"vigil:policy:max_age": 60})
    assert read_rules(out)["vigil:policy:max_age"]["expr"] == "vector(60.0)"
    with pytest.raises(ruleoverlay.OverlayError, match="policy names no recording rule"):
        ruleoverlay.compressed_rules(src, tmp_path / "dst2", policy={"vigil:policy:maxage": 1})


def test_a_directory_without_rule_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ruleoverlay.OverlayError, match="no rule files"):
        ruleoverlay.compressed_rules(tmp_path, tmp_path / "dst")


def test_a_typo_in_a_rule_is_reported_against_the_source_file_and_line(tmp_path: Path) -> None:
    """#11: the error named `.vigil/config/rules-fast/performance.yml: 25:11`, the generated
    copy; the user edits prometheus/rules/, so that is the file and line to name."""
    src = tmp_path / "rules"
    src.mkdir()
    good = (ruleoverlay.RULES_DIR / "performance.yml").read_text().splitlines()
    line = next(i for i, ln in enumerate(good) if "expr:" in ln and ">" in ln)
    good[line] = good[line].replace(">", "> >", 1)
    (src / "performance.yml").write_text("\n".join(good) + "\n")
    with pytest.raises(ruleoverlay.OverlayError) as exc:
        ruleoverlay.compressed_rules(src, tmp_path / "fast")
    message = str(exc.value)
    assert f"{src / 'performance.yml'}: {line + 1}:" in message
    assert "parse error" in message
    assert "fast" not in message.replace(str(tmp_path), "")
    assert not (tmp_path / "fast" / "performance.yml").exists()
