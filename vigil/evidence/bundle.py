"""Collect an incident's evidence bundle: one JSON file per kind of evidence, then a manifest.

The files (names are stable; docs/runbook.md#preserve-evidence lists them):

* ``scope.json``: the window, actors and tenants the rest was selected by;
* ``incident.json``, ``alerts.json``: the router's records and every timeline event;
* ``sessions.json``: pg_stat_activity now, without query text;
* ``audit_rows.json``, ``access_records.json``: the scope's records (vigil/investigate/records.py
  says what is left out so no PHI value gets in);
* ``roles.json``, ``grants.json``, ``policies.json``, ``settings.json``: the controls now;
* ``audit_chain_head.json``: the chain's last sealed row and status, to prove later that the
  rows in this bundle were (or were not yet) sealed.

The folder and files are private to the collector (0700/0600). Nothing here touches the
router: the CLI records the manifest hash there afterwards.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from vigil.core.errors import VigilError
from vigil.evidence import manifest, snapshots
from vigil.investigate import records
from vigil.investigate.scope import IncidentDocs, Scope

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest_hash: str
    files: int
    audit_rows: int
    access_records: int


def _write(root: Path, name: str, doc: Any) -> None:
    path = root / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")


def prepare(out: Path) -> Path:
    """The bundle's folder: new, or existing and empty (evidence is never overwritten)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VigilError(f"--out: {out} exists and is not an empty folder; evidence is never "
                         "overwritten, choose a new folder")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    return out


def collect(conn: Conn, docs: IncidentDocs, scope: Scope, out: Path, *, collected_by: str,
            now: datetime, limit: int = records.DEFAULT_LIMIT) -> Bundle:
    root = prepare(out)
    audit = records.audit_rows(conn, scope, limit)
    access = records.access_records(conn, scope, limit)
    files: dict[str, Any] = {
        "scope.json": {**scope.as_dict(), "record_limit": limit,
                       "truncated": {"audit_rows": len(audit) >= limit,
                                     "access_records": len(access) >= limit}},
        "incident.json": {"incident": docs.incident, "timeline": docs.timeline},
        "alerts.json": [{"alert": a, "timeline": docs.alert_timelines.get(int(a["id"]), [])}
                        for a in docs.alerts],
        "sessions.json": snapshots.sessions(conn),
        "audit_rows.json": audit,
        "access_records.json": access,
        "roles.json": snapshots.roles(conn),
        "grants.json": snapshots.grants(conn),
        "policies.json": snapshots.policies(conn),
        "settings.json": snapshots.settings(conn),
        "audit_chain_head.json": snapshots.chain_head(conn),
    }
    for name, doc in files.items():
        _write(root, name, doc)
    digest = manifest.write(root, {"incident_id": scope.incident_id,
                                   "collected_at": now.isoformat(),
                                   "collected_by": collected_by})
    return Bundle(root, digest, len(files), len(audit), len(access))
