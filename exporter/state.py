"""Histogram watermarks on disk: each database row is observed exactly once, across restarts.

One JSON file per target in ``state_dir`` holds, for every watermark query, where it resumes
(a ``Mark``) *and* the histogram counts that include everything before it. Both are written
together (temp file, fsync, rename) before the new counts are published, so after a crash or
a restart the exporter resumes from a consistent pair: no row is counted twice, none is lost.

Format version 2 stores each mark as ``{"txid": T, "id": I, "floor": F}``: the built-ins
resume after (writing transaction id, row id), below the snapshot horizon (see
``collectors/run.py``). Version 1 stored the highest id observed, ``W``; it is read as
``{"txid": 0, "id": W, "floor": W}``, which resumes exactly where that exporter stopped: a
settled query then reads only ids above W (all of them, in any transaction order), an id
query reads ids above W as before.

First start (no file): ``watermark_start: now`` begins at the current horizon (built-ins) or
max id (custom), so history is not replayed into the histograms; ``zero`` observes every row
already in the tables.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from exporter.snapshot import HistSeries, Labels, Mark, TargetStore
from vigil.core.logs import fields

log = logging.getLogger("exporter.state")
VERSION = 2
READABLE = (1, 2)


class StateFile:
    def __init__(self, state_dir: str | Path, target: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", target)
        self.path = Path(state_dir) / f"{safe}.json"

    def load(self, shapes: dict[str, tuple[int, int]]
             ) -> tuple[dict[str, dict[Labels, HistSeries]], dict[str, Mark]] | None:
        """Saved (histograms, watermarks), or None on first start. ``shapes`` maps a
        histogram to its (bucket count, label count); a histogram whose buckets or labels
        changed since it was saved (an upgrade that split ``table`` into ``schema`` and
        ``table``, say) restarts at 0 rather than publishing series with the wrong labels."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._start_over(type(exc).__name__)
            return None
        try:
            return self._parse(doc, shapes)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._start_over(type(exc).__name__)
            return None

    def _start_over(self, error: str) -> None:
        """A corrupt or unreadable state file (a torn disk, a hand edit): keep it for a
        post-mortem, say so once, and start as on a first start rather than not at all."""
        kept = self.path.with_suffix(".json.corrupt")
        try:
            os.replace(self.path, kept)
        except OSError:
            kept = self.path
        log.error("exporter state file unreadable; starting over as on a first start "
                  "(histograms restart at 0, watermarks from watermark_start)",
                  extra=fields(path=str(self.path), kept_as=str(kept), error=error))

    def _parse(self, doc: Any, shapes: dict[str, tuple[int, int]]
               ) -> tuple[dict[str, dict[Labels, HistSeries]], dict[str, Mark]] | None:
        version = doc.get("version")
        if version not in READABLE:
            log.warning("unknown exporter state version; starting over",
                        extra=fields(path=str(self.path), version=str(version)))
            return None
        hist: dict[str, dict[Labels, HistSeries]] = {}
        for name, rows in doc.get("histograms", {}).items():
            shape = shapes.get(name)
            if shape is None:
                continue
            n, n_labels = shape
            series: dict[Labels, HistSeries] = {}
            for row in rows:
                if len(row["counts"]) != n + 1 or len(row["labels"]) != n_labels:
                    log.warning("saved histogram no longer matches its definition; it "
                                "restarts at 0", extra=fields(path=str(self.path), metric=name))
                    series = {}
                    break
                series[tuple(row["labels"])] = HistSeries(
                    [int(c) for c in row["counts"]], float(row["sum"]), int(row["count"]))
            hist[name] = series
        marks = {k: _mark(v) for k, v in doc.get("watermarks", {}).items()}
        return hist, marks

    def save(self, store: TargetStore, hist: dict[str, dict[Labels, HistSeries]],
             watermarks: dict[str, Mark]) -> None:
        doc: dict[str, Any] = {
            "version": VERSION,
            "target": store.name,
            "watermarks": {k: {"txid": m.txid, "id": m.id, "floor": m.floor}
                           for k, m in watermarks.items()},
            "histograms": {
                name: [{"labels": list(lv), "counts": s.counts, "sum": s.sum, "count": s.count}
                       for lv, s in sorted(series.items())]
                for name, series in hist.items()},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def _mark(saved: Any) -> Mark:
    if isinstance(saved, dict):  # version 2
        return Mark(int(saved["txid"]), int(saved["id"]), int(saved.get("floor", 0)))
    w = int(saved)  # version 1: the highest id observed
    return Mark(0, w, w)
