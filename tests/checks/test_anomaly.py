"""`vigil check anomaly` (security:anomaly:check): the unusual-access rule's flagged actors,
each with its rule and numbers; exit 1 when any, 0 on a healthy demo."""

from __future__ import annotations

import json
import uuid

import pytest
from pghelpers import query

from vigil import cli, demo

CANARY = f"CANARY-PATIENT-{uuid.uuid4().hex[:12]}"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["check", "anomaly", *argv])
    captured = capsys.readouterr()
    assert CANARY not in captured.out + captured.err
    return code, captured.out


def test_healthy_demo_flags_nobody_and_the_access_fault_flags_the_intruder(
        demo_db: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    demo.run_load(demo_db, duration=1.0, rate=30)
    query(demo_db.admin_dsn, "INSERT INTO \"Deal\" (tenant_id, title, patient_name_enc, key_id) "
          "SELECT 'tenant-1', 'canary', encrypt_phi(%s, k), k FROM active_key_id() k", (CANARY,))
    code, out = _run(capsys, "--dsn", demo_db.exporter_dsn)
    assert code == 0 and out.startswith("✓ no actor flagged in the last 300 s"), out

    done = demo.inject(demo_db.admin_dsn, "failed-access")
    code, out = _run(capsys, "--dsn", demo_db.exporter_dsn)
    assert code == 1
    assert (f"✗ {done['actor']}: failed_attempts: {done['attempts']} failed of "
            f"{done['attempts']} requests in the last 300 s (flagged at >= 5 failed)") in out
    code, out = _run(capsys, "--dsn", demo_db.exporter_dsn, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["thresholds"]["failed_threshold"] == 5
    flagged = {f["actor"]: f for f in doc["flagged"]}
    assert flagged[str(done["actor"])]["rule"] == "failed_attempts"
    assert flagged[str(done["actor"])]["window_failed"] == done["attempts"]


def test_an_actor_far_above_its_own_baseline_is_flagged_with_the_rate_rule(
        demo_db: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    # Ten requests an hour or two ago (the baseline), then a hundred in the last minute.
    query(demo_db.admin_dsn,
          "INSERT INTO vigil_monitor.access_log (ts, tenant_id, actor_id, resource, action, "
          "success) SELECT now() - interval '2 hours' + g * interval '6 minutes', 'tenant-1', "
          "'bulk-reader', 'Deal', 'read', true FROM generate_series(1, 10) g "
          "UNION ALL SELECT now() - g * interval '0.5 s', 'tenant-1', 'bulk-reader', 'Deal', "
          "'read', true FROM generate_series(1, 100) g")
    code, out = _run(capsys, "--dsn", demo_db.exporter_dsn)
    assert code == 1
    line = next(ln for ln in out.splitlines() if "bulk-reader" in ln)
    assert line.startswith("✗ bulk-reader: rate_above_baseline: 100 requests in the last 300 s, "
                           "baseline "), line
    assert "(flagged above 5x baseline with >= 50 requests)" in line
