"""report.json checked field by field against a known day fed to a real Prometheus and DB."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from vigil.report import build, model
from vigil.report.store import ReportStore

from .feed import day_start

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def report(known_prometheus: str, known_db: str, known_date: dt.date,
           store_dir: Path) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    doc, folder = build.daily(build.Sources(known_prometheus, known_db), known_date,
                              ReportStore(store_dir), now=now)
    assert json.loads((folder / "report.json").read_text()) == doc
    return doc


def test_rls_threshold_time_over_and_gaps(report: dict[str, Any], known_date: dt.date) -> None:
    rls = report["thresholds"]["rls_overhead"]
    assert rls["threshold_seconds"] == 0.05 and rls["status"] == "breach"
    deal, contact = rls["series"]["public/Deal"], rls["series"]["public/Contact"]
    assert deal["seconds_over_threshold"] == 3600
    assert (deal["max"], deal["p50"], deal["p95"], deal["p99"]) == (0.08, 0.02, 0.02, 0.08)
    assert deal["coverage_ratio"] == 1.0 and deal["gaps"] == []
    s = day_start(known_date)
    assert contact["gaps"] == [[s + 720 * 60, s + 750 * 60]]
    assert contact["coverage_ratio"] == pytest.approx(1410 / 1440)
    assert contact["seconds_over_threshold"] == 0
    # the plot carries the data, including the spike
    assert max(v for _, v in deal["plot"]) == 0.08


def test_phi_query_quantiles_against_what_was_fed(report: dict[str, Any]) -> None:
    phi = report["thresholds"]["phi_query"]
    deal = phi["series"]["public/Deal"]
    total, slow = 10 * 1439, 1200     # increase() sees minutes 1..1439; all slow ones in it
    fast = total - slow
    assert deal["observations"] == pytest.approx(total, rel=0.01)
    assert deal["p50"] == pytest.approx(0.025 + 0.025 * (0.5 * total / fast), rel=1e-3)
    assert deal["p95"] == pytest.approx(0.1 + 0.15 * ((0.95 * total - fast) / slow), rel=1e-3)
    assert deal["p99"] == pytest.approx(0.1 + 0.15 * ((0.99 * total - fast) / slow), rel=1e-3)
    # the 5-minute p95 is over 100 ms from 10:00 to 12:00 (plus at most the 5 m window)
    assert 7200 <= deal["seconds_over_threshold"] <= 7200 + 360
    assert phi["status"] == "breach"


def test_absent_data_is_missing_never_healthy(report: dict[str, Any]) -> None:
    for name in ("audit_write", "encryption"):
        assert report["thresholds"][name]["status"] == "missing"
        assert report["sections_status"][f"threshold:{name}"] == "missing"
        assert any(m.startswith(f"{name}:") for m in report["missing"])
    assert report["status"] == "missing"
    maint = report["collection"]["demo/maintenance"]
    assert maint["status"] == "missing" and maint["coverage_ratio"] == 0.0


def test_collection_health_per_collector(report: dict[str, Any], known_date: dt.date) -> None:
    c = report["collection"]
    s = day_start(known_date)
    assert c["demo/rls"] == {"target": "demo", "collector": "rls", "success_ratio": 1.0,
                             "coverage_ratio": 1.0, "gaps": [], "status": "ok"}
    assert c["demo/security"]["success_ratio"] == pytest.approx(1380 / 1440)
    assert c["demo/security"]["status"] == "attention"
    assert c["demo/indexes"]["gaps"] == [[s + 1200 * 60, s + 1440 * 60]]
    assert c["demo/indexes"]["status"] == "attention"


def test_security_sections(report: dict[str, Any]) -> None:
    acc = report["access"]["prometheus"]
    assert acc["requests"] == pytest.approx(5 * 1439, rel=0.01)
    assert acc["failed"] == pytest.approx(1439, rel=0.01)
    assert acc["unusual_patterns_max"] == 2
    audit = report["audit"]["prometheus"]
    assert audit == {"coverage_ratio_min": 1.0, "gaps_max": 0.0, "integrity_issues_max": 0.0,
                     "buffer_oldest_age_seconds_max": 1200.0, "sealers_alive_min": 1.0}
    enc = report["encryption"]["prometheus"]
    assert enc["keys"] == {"k1": {"age_seconds_max": 8640000 + 60 * 1439, "over_policy": True}}
    assert enc["failed_operations"] == 0
    assert report["sections_status"]["encryption"] == "attention"
    alerts = report["alerts"]
    assert alerts["firing"] == {"VigilRlsOverheadHigh": {"severity": "P3",
                                                         "firing_seconds": 55 * 60}}
    assert alerts["by_severity"]["P3"]["received"] == pytest.approx(1, rel=0.01)
    assert alerts["by_severity"]["P3"]["ack_sla_seconds"] == 14400


def test_database_access_review(report: dict[str, Any]) -> None:
    db = report["access"]["database"]
    assert (db["requests"], db["failed"], db["actors"], db["tenants"]) == (5, 1, 2, 2)
    assert db["by_tenant_actor"] == [
        {"tenant": "t1", "actor": "a1", "requests": 3, "failed": 1},
        {"tenant": "t2", "actor": "a2", "requests": 2, "failed": 0}]
    assert db["top_phi_readers"] == [{"actor": "a2", "rows_read": 57, "queries": 2},
                                     {"actor": "a1", "rows_read": 5, "queries": 1}]
    weekend = dt.date.fromisoformat(report["date"]).isoweekday() > 5
    off = db["off_hours_phi_access"]
    if weekend:
        assert {r["actor"] for r in off} == {"a1", "a2"}
    else:
        assert off == [{"actor": "a1", "table": "Deal", "queries": 1, "rows_read": 5}]
    chain = report["audit"]["database"]["chain"]
    assert chain is not None and "head_seq" in chain


def test_hash_and_chain_fields(report: dict[str, Any]) -> None:
    assert report["previous_hash"] == model.GENESIS
    assert report["hash"] == model.digest(report)
    assert report["format"] == model.FORMAT


def test_cli_daily_stores_the_day_and_refuses_to_overwrite_it(
        known_prometheus: str, known_db: str, known_date: dt.date, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from vigil import cli

    out_dir = tmp_path / "out"
    argv = ["report", "daily", "--date", known_date.isoformat(), "--out", str(out_dir),
            "--prometheus-url", known_prometheus, "--dsn", known_db]
    assert cli.main(argv) == 0
    first = capsys.readouterr().out
    assert first.startswith(f"{known_date}: missing;")  # audit write/encryption: no data
    doc = json.loads((out_dir / known_date.isoformat() / "report.json").read_text())
    assert doc["hash"] in first
    md = (out_dir / known_date.isoformat() / "report.md").read_text().splitlines()
    assert md[0] == f"**vigil security report {known_date}**: MISSING"
    assert "- over the 50 ms rls_overhead threshold: public/Deal 60 min" in md
    assert any(line.startswith("- MISSING DATA (") for line in md)
    assert any(line.startswith("- collectors with failures or gaps:") and "maintenance" in line
               for line in md)
    assert cli.main(argv) == 1
    assert "already stored; pass --replace" in capsys.readouterr().err
    assert cli.main([*argv, "--replace"]) == 0
    assert cli.main(["report", "daily", "--date", dt.date.today().isoformat(), "--out",
                     str(out_dir)]) == 1
    assert "is not over yet" in capsys.readouterr().err
