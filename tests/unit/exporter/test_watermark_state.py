"""exporter/state.py: the histogram counts and their watermarks saved together, read back
after a restart, and a bad file costing a restart at zero rather than the exporter."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from exporter.snapshot import HistSeries, Mark, TargetStore
from exporter.state import StateFile

SHAPES = {"app_seconds": (2, 1)}          # 2 buckets, 1 label


def saved(tmp_path: Path) -> StateFile:
    state = StateFile(tmp_path, "db/1 prod")
    hist = {"app_seconds": {("t",): HistSeries([1, 0, 2], 4.5, 3)}}
    state.save(TargetStore("db/1 prod"), hist, {"app_seconds": Mark(txid=9, id=41, floor=3)})
    return state


def test_counts_and_watermarks_survive_a_restart_together(tmp_path: Path) -> None:
    state = saved(tmp_path)
    assert state.path.name == "db_1_prod.json"           # the target name made file-safe
    loaded = StateFile(tmp_path, "db/1 prod").load(SHAPES)
    assert loaded is not None
    hist, marks = loaded
    assert hist == {"app_seconds": {("t",): HistSeries([1, 0, 2], 4.5, 3)}}
    assert marks == {"app_seconds": Mark(9, 41, 3)}
    assert not list(tmp_path.glob("*.tmp"))               # written via a renamed temp file


def test_a_first_start_has_no_state(tmp_path: Path) -> None:
    assert StateFile(tmp_path, "db1").load(SHAPES) is None


def test_a_version_1_watermark_resumes_above_its_id(tmp_path: Path) -> None:
    state = StateFile(tmp_path, "db1")
    state.path.write_text(json.dumps({"version": 1, "watermarks": {"app_seconds": 77}}))
    loaded = state.load(SHAPES)
    assert loaded is not None and loaded[1] == {"app_seconds": Mark(0, 77, 77)}


def test_a_histogram_whose_shape_changed_restarts_at_zero(tmp_path: Path) -> None:
    state = saved(tmp_path)
    loaded = state.load({"app_seconds": (3, 1)})          # a bucket was added
    assert loaded is not None and loaded[0] == {"app_seconds": {}}
    loaded = state.load({})                               # the metric is gone
    assert loaded is not None and loaded[0] == {}


@pytest.mark.parametrize("content", ["{torn", '{"version": 2, "watermarks": {"x": {}}}'])
def test_a_corrupt_file_is_kept_aside_and_the_exporter_starts_over(
        tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture) -> None:
    state = StateFile(tmp_path, "db1")
    state.path.write_text(content)
    with caplog.at_level(logging.ERROR, logger="exporter.state"):
        assert state.load(SHAPES) is None
    assert state.path.with_suffix(".json.corrupt").read_text() == content
    assert not state.path.exists()
    assert [r.getMessage() for r in caplog.records] == [
        "exporter state file unreadable; starting over as on a first start "
        "(histograms restart at 0, watermarks from watermark_start)"]


def test_an_unknown_version_starts_over_without_touching_the_file(tmp_path: Path) -> None:
    state = StateFile(tmp_path, "db1")
    state.path.write_text(json.dumps({"version": 99}))
    assert state.load(SHAPES) is None
    assert state.path.exists()
