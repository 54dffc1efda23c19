"""The stored series: hash chain, attestations, list/verify commands, PHI never stored."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from vigil import cli, demo
from vigil.core import pg
from vigil.report import build, html, markdown, model
from vigil.report.store import ReportStore

D1, D2, D3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)
NOW = dt.datetime(2026, 11, 5, 8, 0, tzinfo=dt.UTC)


def _store_day(store: ReportStore, date: dt.date, now: dt.datetime = NOW) -> dict[str, Any]:
    doc = model.build(date, {"missing": []}, {"missing": []},
                      previous_hash=store.previous_hash(date), generated_at=now,
                      sources={"prometheus": "test"})
    store.save(doc, html.render(doc), markdown.render(doc))
    return doc


@pytest.fixture
def three_days(tmp_path: Path) -> ReportStore:
    store = ReportStore(tmp_path / "reports")
    for d in (D1, D2, D3):
        _store_day(store, d)
    return store


def _vigil(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def test_each_report_chains_on_the_day_before(three_days: ReportStore) -> None:
    docs = [three_days.load(d.isoformat()) for d in (D1, D2, D3)]
    assert docs[0]["previous_hash"] == model.GENESIS
    assert docs[1]["previous_hash"] == docs[0]["hash"]
    assert docs[2]["previous_hash"] == docs[1]["hash"]
    assert three_days.verify() == []


def test_editing_a_stored_report_breaks_verify_naming_the_day(
        three_days: ReportStore, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(three_days.root)
    assert _vigil(capsys, "report", "verify", "--store", store)[0] == 0
    path = three_days.day_dir(D2) / "report.json"
    doc = json.loads(path.read_text())
    doc["status"] = "ok"  # someone makes a bad day look healthy
    doc["sections_status"]["collection"] = "ok"
    path.write_text(json.dumps(doc, indent=1))
    code, out = _vigil(capsys, "report", "verify", "--store", store)
    assert code == 1
    assert out.startswith(f"BROKEN at {D2.isoformat()}: report.json does not match its hash")


def test_recomputing_the_hash_of_an_edit_breaks_the_next_day(three_days: ReportStore) -> None:
    path = three_days.day_dir(D2) / "report.json"
    doc = json.loads(path.read_text())
    assert doc["status"] == "missing"
    doc["status"] = "ok"
    doc["hash"] = model.digest(doc)  # a careful forger re-hashes the day...
    path.write_text(json.dumps(doc))
    broken = three_days.verify()
    assert broken and broken[0].date == D3.isoformat()  # ...and D3 no longer chains on it
    assert "previous_hash" in broken[0].reason


def test_removing_a_day_breaks_the_chain(three_days: ReportStore) -> None:
    for f in three_days.day_dir(D2).iterdir():
        f.unlink()
    three_days.day_dir(D2).rmdir()
    assert three_days.verify()[0].date == D3.isoformat()


def test_a_past_day_cannot_be_rebuilt_once_a_later_one_is_stored(
        three_days: ReportStore) -> None:
    from vigil.report.errors import ReportError

    with pytest.raises(ReportError, match="already stored"):
        three_days.check_writable(D2, replace=True)
    three_days.check_writable(D3, replace=True)  # the newest day may be rebuilt


def test_attest_list_and_unreviewed_status(three_days: ReportStore,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    store = str(three_days.root)
    assert three_days.unreviewed() == [D1.isoformat(), D2.isoformat(), D3.isoformat()]
    status = three_days.status(NOW + dt.timedelta(hours=3))
    assert status["unreviewed_age_seconds"] == 3 * 3600
    code, out = _vigil(capsys, "report", "attest", D1.isoformat(), "--by", "Dana Reviewer",
                       "--note", "checked", "--store", store)
    assert code == 0 and "reviewed by Dana Reviewer" in out
    code, out = _vigil(capsys, "report", "list", "--store", store)
    lines = out.splitlines()
    assert lines[0].startswith(D1.isoformat()) and lines[0].endswith("Dana Reviewer")
    assert lines[1].endswith("NOT REVIEWED")
    assert three_days.unreviewed() == [D2.isoformat(), D3.isoformat()]
    entries = [json.loads(x) for x in
               (three_days.root / "attestations.jsonl").read_text().splitlines()]
    assert entries[0]["report_hash"] == three_days.load(D1.isoformat())["hash"]
    # the attestation log is chained too: dropping a line is detected
    (three_days.root / "attestations.jsonl").write_text("")
    _vigil(capsys, "report", "attest", D2.isoformat(), "--by", "X", "--store", store)
    _vigil(capsys, "report", "attest", D3.isoformat(), "--by", "Y", "--store", store)
    log = three_days.root / "attestations.jsonl"
    log.write_text(log.read_text().splitlines()[1] + "\n")
    assert any("attestations.jsonl line 1" in b.reason for b in three_days.verify())


CANARY_NAME = "Canary Zebulon Quixtrop"
CANARY_EMAIL = "zebulon.canary@phi.invalid"


def test_no_phi_from_the_demo_reaches_any_report_file(
        demo_db: demo.DemoInfo, known_prometheus: str, known_date: dt.date,
        tmp_path: Path) -> None:
    with pg.connect(demo_db.admin_dsn) as conn:
        tenant = conn.execute("SELECT tenant_id FROM tenants LIMIT 1").fetchone()
        assert tenant is not None
        conn.execute(
            "INSERT INTO \"Deal\" (tenant_id, title, stage, amount, patient_name_enc, "
            "diagnosis_enc, key_id) SELECT %s, %s, 'open', 1, encrypt_phi(%s, k), "
            "encrypt_phi(%s, k), k FROM active_key_id() k",
            (tenant[0], CANARY_NAME, CANARY_NAME, CANARY_NAME))
        conn.execute(
            "INSERT INTO \"Contact\" (tenant_id, email_enc, phone_enc, key_id) "
            "SELECT %s, encrypt_phi(%s, k), encrypt_phi('555-0199', k), k FROM active_key_id() k",
            (tenant[0], CANARY_EMAIL))
        ts = dt.datetime.combine(known_date, dt.time(14), tzinfo=dt.UTC)
        # free-text columns an application might (wrongly) fill with PHI
        conn.execute("INSERT INTO vigil_monitor.access_log (ts, tenant_id, actor_id, resource, "
                     "action, success, reason) VALUES (%s, %s, 'doc-7', %s, 'read', false, %s)",
                     (ts, tenant[0], f"Deal of {CANARY_NAME}", f"denied for {CANARY_EMAIL}"))
    store = ReportStore(tmp_path / "reports")
    _, folder = build.daily(build.Sources(known_prometheus, demo_db.admin_dsn), known_date,
                            store, now=dt.datetime.now(dt.UTC))
    files = sorted(folder.iterdir())
    assert {f.name for f in files} == {"report.json", "report.html", "report.md"}
    doc = json.loads((folder / "report.json").read_text())
    assert {"tenant": tenant[0], "actor": "doc-7", "requests": 1, "failed": 1} in \
        doc["access"]["database"]["by_tenant_actor"]  # the access is reported, by id
    for f in files:
        text = f.read_text().lower()
        for canary in (CANARY_NAME, CANARY_EMAIL, "zebulon", "quixtrop"):
            assert canary.lower() not in text, f"{canary!r} leaked into {f.name}"
