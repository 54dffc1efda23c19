"""The report store: one folder per day, an append-only attestation log, chain checks.

Layout (``ROOT`` defaults to ``<state folder>/reports``, i.e. ``.vigil/reports``)::

    ROOT/2026-11-29/report.json   the source of truth (hash-chained)
    ROOT/2026-11-29/report.html   rendered from it, self-contained
    ROOT/2026-11-29/report.md     short summary for chat or mail
    ROOT/attestations.jsonl       who reviewed which report hash, append-only, chained too
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.report import model
from vigil.report.errors import ReportError

ATTESTATIONS = "attestations.jsonl"


def default_root() -> Path:
    from vigil.stack.plan import default_layout

    env = os.environ.get("VIGIL_REPORT_DIR")
    return Path(env) if env else default_layout().state / "reports"


@dataclass(frozen=True)
class Broken:
    date: str
    reason: str


class ReportStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time (the scheduler and a manual `vigil report daily|attest`): the
        chain is read, extended and written under this lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    def day_dir(self, date: dt.date | str) -> Path:
        return self.root / str(date)

    def dates(self) -> list[str]:
        if not self.root.is_dir():
            return []
        out = []
        for p in self.root.iterdir():
            try:
                dt.date.fromisoformat(p.name)
            except ValueError:
                continue
            if (p / "report.json").is_file():
                out.append(p.name)
        return sorted(out)

    def load(self, date: str) -> dict[str, Any]:
        path = self.day_dir(date) / "report.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ReportError(f"no stored report for {date} in {self.root}") from None
        except ValueError:
            raise ReportError(f"{path} is not valid JSON (edited or truncated?)") from None
        if not isinstance(doc, dict):
            raise ReportError(f"{path} is not a report object")
        return doc

    def previous_hash(self, date: dt.date) -> str:
        earlier = [d for d in self.dates() if d < date.isoformat()]
        return str(self.load(earlier[-1])["hash"]) if earlier else model.GENESIS

    def check_writable(self, date: dt.date, replace: bool) -> None:
        """A stored day may be rebuilt only if it is the newest (nothing chains on it yet)."""
        iso = date.isoformat()
        later = [d for d in self.dates() if d > iso]
        if later:
            raise ReportError(f"{later[0]} is already stored and chains on the days before it; "
                              f"a report for {iso} can no longer be added or rebuilt")
        if iso in self.dates() and not replace:
            raise ReportError(f"a report for {iso} is already stored; pass --replace to "
                              "rebuild it (any attestation of the old one stops counting)")

    def save(self, doc: dict[str, Any], html: str, markdown: str) -> Path:
        folder = self.day_dir(doc["date"])
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in (("report.html", html), ("report.md", markdown),
                           ("report.json", json.dumps(doc, indent=1, sort_keys=True,
                                                      ensure_ascii=False) + "\n")):
            tmp = folder / f".{name}.tmp"
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, folder / name)  # json last: a day counts once its json is there
        return folder

    # ------------------------------------------------------------------ attestations

    def attestations(self) -> Iterator[dict[str, Any]]:
        path = self.root / ATTESTATIONS
        if not path.is_file():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)

    def attest(self, date: str, by: str, note: str, now: dt.datetime) -> dict[str, Any]:
        with self.locked():
            return self._attest(date, by, note, now)

    def _attest(self, date: str, by: str, note: str, now: dt.datetime) -> dict[str, Any]:
        doc = self.load(date)
        if not by.strip():
            raise ReportError("--by needs the reviewer's name")
        lines = list(self.attestations())
        prev = lines[-1]["hash"] if lines else model.GENESIS
        entry: dict[str, Any] = {"date": date, "report_hash": doc["hash"], "by": by.strip(),
                                 "note": note, "at": now.astimezone(dt.UTC).isoformat(),
                                 "previous_hash": prev}
        entry["hash"] = model.digest(entry)
        self.root.mkdir(parents=True, exist_ok=True)
        # O_APPEND: the log only ever grows; a line is written whole in one call.
        fd = os.open(self.root / ATTESTATIONS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
        return entry

    def reviews(self) -> dict[str, list[dict[str, Any]]]:
        """Attestations per date that match the stored report's current hash."""
        out: dict[str, list[dict[str, Any]]] = {}
        stored = {d: self.load(d).get("hash") for d in self.dates()}
        for a in self.attestations():
            if stored.get(str(a.get("date"))) == a.get("report_hash"):
                out.setdefault(a["date"], []).append(a)
        return out

    # ------------------------------------------------------------------ verification

    def verify(self) -> list[Broken]:
        """Every break in the report chain and the attestation log, first one first."""
        broken: list[Broken] = []
        prev = model.GENESIS
        for date in self.dates():
            try:
                doc = self.load(date)
            except ReportError as exc:
                broken.append(Broken(date, str(exc)))
                prev = ""
                continue
            if doc.get("date") != date:
                broken.append(Broken(date, f"report.json says date {doc.get('date')!r}"))
            if doc.get("hash") != model.digest(doc):
                broken.append(Broken(date, "report.json does not match its hash (edited)"))
            elif prev and doc.get("previous_hash") != prev:
                broken.append(Broken(date, "previous_hash does not match the day before "
                                           "(a report before it was edited, removed or added)"))
            prev = str(doc.get("hash", ""))
        prev = model.GENESIS
        for n, a in enumerate(self.attestations(), 1):
            if a.get("hash") != model.digest(a) or a.get("previous_hash") != prev:
                broken.append(Broken(str(a.get("date")), f"{ATTESTATIONS} line {n} was edited "
                                                          "or removed"))
            prev = str(a.get("hash"))
        return broken

    def unreviewed(self) -> list[str]:
        reviewed = self.reviews()
        return [d for d in self.dates() if d not in reviewed]

    def status(self, now: dt.datetime) -> dict[str, float]:
        """Figures for ``vigil_report_*`` metrics (see vigil/report/serve.py)."""
        dates = self.dates()
        oldest = 0.0
        unrev = self.unreviewed()
        if unrev:
            gen = dt.datetime.fromisoformat(self.load(unrev[0])["generated_at"])
            oldest = max(0.0, (now - gen).total_seconds())
        last = (dt.datetime.fromisoformat(self.load(dates[-1])["generated_at"]).timestamp()
                if dates else 0.0)
        return {"unreviewed_age_seconds": oldest, "unreviewed_reports": float(len(unrev)),
                "chain_ok": 0.0 if self.verify() else 1.0,
                "last_generated_timestamp_seconds": last, "reports": float(len(dates))}
