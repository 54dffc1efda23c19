"""``vigil incident evidence collect|verify`` and ``vigil incident hold|release-hold``.

collect writes the bundle (vigil/evidence/bundle.py), then records its path and manifest hash
with the incident in the router (the incident's timeline shows it); ``--hold`` also puts the
scope under legal hold. verify names every file changed, removed or added, and with
``--incident`` compares the manifest with the hash the router recorded.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.core import cliargs, pg
from vigil.core.errors import VigilError
from vigil.evidence import bundle, hold, manifest
from vigil.investigate import cli as icli
from vigil.investigate import records

_WHO = os.environ.get("USER", "cli")
EXIT_VERIFY = ("Exit codes: 0 = every file as collected, 1 = a file changed, was removed or "
               "added, or the manifest differs, 2 = usage error.")


def register_incident(isub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    ev = isub.add_parser("evidence", help="collect and verify evidence bundles")
    esub = ev.add_subparsers(dest="evidence_cmd", metavar="ACTION", required=True)
    p = esub.add_parser("collect", help="write the incident's evidence bundle and record it",
                        description="Writes incident, alert timelines, sessions, the scope's "
                                    "audit and access records (no PHI value), roles, grants, "
                                    "policies, settings and the audit chain head, hashed into "
                                    "manifest.json. " + icli.EXIT_CODES)
    icli.scope_args(p, common)
    p.add_argument("--out", type=Path, default=None,
                   help="new folder for the bundle (default: evidence/incident-ID-TIME in the "
                        "state folder, $VIGIL_STATE_DIR or .vigil/)")
    p.add_argument("--who", default=None, help="who collects (default: your personal token's "
                   "user, else $USER)")
    p.add_argument("--hold", action="store_true", help="also put the scope under legal hold")
    p.add_argument("--limit", type=cliargs.positive_int, default=records.DEFAULT_LIMIT,
                   help="at most this many rows of each kind (default %(default)s)")
    p.set_defaults(func=_collect)
    p = esub.add_parser("verify", help="name every file of a bundle that changed",
                        description="BUNDLE, or with --incident alone every bundle the router "
                                    "recorded for the incident (at its recorded path, against "
                                    "its recorded manifest hash). " + EXIT_VERIFY)
    p.add_argument("bundle", type=Path, nargs="?", default=None, help="the bundle's folder")
    p.add_argument("--manifest-hash", default=None, help="the manifest's SHA-256 as recorded")
    p.add_argument("--incident", type=int, default=None,
                   help="compare with the hash the router recorded for this incident")
    common(p)
    p.set_defaults(func=_verify)
    p = isub.add_parser("hold", help="put the incident's scope under legal hold (retention "
                        "keeps its rows)", description=icli.EXIT_CODES)
    icli.scope_args(p, common)
    p.add_argument("--who", default=None, help="who holds (default: your personal token's "
                   "user, else $USER)")
    p.set_defaults(func=_hold)
    p = isub.add_parser("release-hold", help="release the incident's legal hold",
                        description=icli.EXIT_CODES)
    p.add_argument("id", type=int, help="incident id")
    for flags, options in (cliargs.ADMIN_DSN, cliargs.JSON):
        p.add_argument(*flags, **options)
    p.add_argument("--who", default=_WHO, help="who releases (default $USER)")
    p.set_defaults(func=_release)


def _hold_scope(args: argparse.Namespace, conn: Any, sc: Any) -> dict[str, Any]:
    from router.client_cli import actor

    return hold.hold(conn, sc, actor(args), open_ended=not sc.closed and args.until is None)


def _collect(args: argparse.Namespace) -> int:
    from router import client_cli

    now = datetime.now(UTC)
    docs, sc = icli.load(args, timelines=True)
    who = client_cli.actor(args)   # before writing: the router refuses another name
    state = Path(os.environ.get("VIGIL_STATE_DIR") or ".vigil")   # as the audit key's folder
    out = args.out or state / "evidence" / f"incident-{sc.incident_id}-{now:%Y%m%dT%H%M%SZ}"
    with pg.connect(icli.dsn(args), application_name="vigil-incident-evidence") as conn:
        b = bundle.collect(conn, docs, sc, out, collected_by=who, now=now,
                           limit=args.limit)
        held = _hold_scope(args, conn, sc) if args.hold else None
    try:
        record = client_cli.call(args, "POST", f"/api/v1/incidents/{sc.incident_id}/evidence", {
            "path": str(b.path.resolve()), "manifest_hash": b.manifest_hash, "files": b.files,
            "who": who})
    except VigilError as exc:
        raise VigilError(f"the bundle is complete at {b.path} (manifest sha256 "
                         f"{b.manifest_hash}) but was NOT recorded with the incident: {exc}; "
                         "record the hash in the incident's notes") from None
    doc = {"path": str(b.path.resolve()), "manifest_hash": b.manifest_hash, "files": b.files,
           "audit_rows": b.audit_rows, "access_records": b.access_records,
           "evidence_id": record["id"], "hold": held}
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"evidence of incident {sc.incident_id}: {doc['path']} ({b.files} files, "
              f"{b.audit_rows} audit rows, {b.access_records} access records)")
        print(f"manifest sha256 {b.manifest_hash} (recorded with the incident as evidence "
              f"{record['id']})" + ("; scope under legal hold" if held else ""))
    return 0


def _recorded(args: argparse.Namespace) -> list[dict[str, Any]]:
    from router import client_cli

    doc = client_cli.call(args, "GET", f"/api/v1/incidents/{args.incident}/evidence")
    return list(doc["evidence"])


def _verify(args: argparse.Namespace) -> int:
    if args.bundle is None and args.incident is None:
        raise SystemExit("vigil incident evidence verify: error: BUNDLE or --incident ID "
                         "is required") from None
    if args.bundle is None:   # every bundle recorded for the incident
        targets = [(Path(e["path"]), str(e["manifest_hash"])) for e in _recorded(args)]
        if not targets:
            raise VigilError(f"--incident: the router has no evidence of incident "
                             f"{args.incident}")
    else:
        expected = args.manifest_hash
        if args.incident is not None:
            where = str(args.bundle.resolve())
            mine = [e for e in _recorded(args) if e["path"] == where]
            if not mine:
                raise VigilError(f"--incident: the router has no evidence of incident "
                                 f"{args.incident} at {where}")
            expected = mine[-1]["manifest_hash"]
        targets = [(args.bundle, expected)]
    verdicts = [(path, manifest.verify(path, expected)) for path, expected in targets]
    if args.json:
        print(json.dumps([{"bundle": str(p), **v.as_dict()} for p, v in verdicts], indent=2)
              if args.bundle is None else json.dumps(verdicts[0][1].as_dict(), indent=2))
    for path, verdict in verdicts if not args.json else []:
        if verdict.ok:
            print(f"{path}: intact ({verdict.checked} files as collected, manifest sha256 "
                  f"{verdict.manifest_hash})")
            continue
        print(f"{path}: NOT as collected")
        for what, names in (("changed", verdict.changed), ("removed", verdict.removed),
                            ("added", verdict.added)):
            for name in names:
                print(f"  {what}: {name}")
        for problem in verdict.problems:
            print(f"  {problem}")
    return 0 if all(v.ok for _, v in verdicts) else 1


def _hold(args: argparse.Namespace) -> int:
    _, sc = icli.load(args)
    with pg.connect(icli.dsn(args), application_name="vigil-incident-hold") as conn:
        row = _hold_scope(args, conn, sc)
    if args.json:
        print(json.dumps(row, indent=2))
    else:
        print(f"legal hold on {icli._scope_line(sc)}"
              + ("" if row["until"] else " (open-ended until the incident closes)"))
    return 0


def _release(args: argparse.Namespace) -> int:
    with pg.connect(icli.dsn(args), application_name="vigil-incident-hold") as conn:
        row = hold.release(conn, args.id, args.who)
    if row is None:
        raise VigilError(f"incident {args.id} has no legal hold in force")
    print(json.dumps(row, indent=2) if args.json else
          f"legal hold of incident {args.id} released by {row['released_by']}")
    return 0
