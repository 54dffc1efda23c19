"""An incident's scope from the router's documents, and the evidence manifest, without PG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigil.core.errors import VigilError
from vigil.evidence import manifest
from vigil.investigate.scope import IncidentDocs, build

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _docs(*alerts: dict[str, object], **incident: object) -> IncidentDocs:
    inc = {"id": 7, "status": "open", "created_at": "2026-11-30T11:00:00+00:00", **incident}
    return IncidentDocs(inc, [], list(alerts))  # type: ignore[arg-type]


def test_window_runs_from_the_earliest_alert_minus_lookback_to_now_or_close() -> None:
    docs = _docs({"id": 1, "starts_at": "2026-11-30T10:30:00+00:00", "labels": {}},
                 {"id": 2, "starts_at": "2026-11-30T10:00:00+00:00", "labels": {}})
    sc = build(docs, NOW, lookback=600)
    assert sc.since == datetime(2026, 11, 30, 9, 50, tzinfo=UTC) and sc.until == NOW
    assert sc.everyone and not sc.closed
    closed = _docs(status="closed", closed_at="2026-11-30T11:30:00+00:00")
    sc = build(closed, NOW, lookback=0)
    assert sc.since == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)   # no alert: created_at
    assert sc.until == datetime(2026, 11, 30, 11, 30, tzinfo=UTC) and sc.closed
    moved = _docs(status="closed", status_changed_at="2026-11-30T11:45:00+00:00")
    assert build(moved, NOW).until == datetime(2026, 11, 30, 11, 45, tzinfo=UTC)


def test_actors_and_tenants_come_from_id_shaped_labels_and_flags() -> None:
    docs = _docs({"id": 1, "starts_at": "2026-11-30T10:00:00+00:00",
                  "labels": {"actor": "doc-7", "tenant_id": "tenant-2",
                             "actor_id": "Jane Doe", "tenant": "jane@example.invalid"}})
    sc = build(docs, NOW, actors=("nurse-1",), tenants=("tenant-2",))
    assert sc.actors == ("doc-7", "nurse-1") and sc.tenants == ("tenant-2",)
    assert sc.ignored_labels == 2 and "Jane" not in str(sc.as_dict())
    since = NOW - timedelta(days=1)
    assert build(docs, NOW, since=since, until=NOW).since == since
    with pytest.raises(VigilError, match="--until"):
        build(docs, NOW, since=NOW, until=since)


def test_manifest_names_changed_removed_and_added_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json").write_text("[1]")
    digest = manifest.write(tmp_path, {"incident_id": 7})
    verdict = manifest.verify(tmp_path, digest)
    assert verdict.ok and verdict.checked == 2 and verdict.manifest_hash == digest
    (tmp_path / "a.json").write_text("{ }")
    (tmp_path / "b.json").unlink()
    (tmp_path / "c.json").write_text("new")
    verdict = manifest.verify(tmp_path, digest)
    assert (verdict.changed, verdict.removed, verdict.added) == (["a.json"], ["b.json"],
                                                                ["c.json"])
    assert not manifest.verify(tmp_path, "0" * 64).ok
    (tmp_path / manifest.MANIFEST).unlink()
    assert manifest.verify(tmp_path).problems
