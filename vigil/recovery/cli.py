"""``vigil recovery verify|report``: the runbook's Recovery Procedures as commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from vigil.core import pg
from vigil.core.clock import SystemClock
from vigil.recovery import incident, report
from vigil.recovery.verify import Item, exit_code, verify
from vigil.security.run import NotSuperuser

_CODES = "Exit 0 every item ✓, 1 any item ✗ (each named), 2 no ✗ but some ⚠ no data, or a " \
         "usage error."


def register(subparsers: Any) -> None:
    rec = subparsers.add_parser("recovery", help="the System Recovery Checklist as checks")
    sub = rec.add_subparsers(dest="recovery_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "verify", help="run the recovery checklist (system:verify, data:verify, security:test)",
        description="The runbook's System Recovery Checklist: system integrity (schema objects, "
                    "audit chain), data consistency (rows without a tenant, encryption "
                    "failures, re-encryption), tenant isolation (probe and active tests), audit "
                    "completeness (coverage), security controls (baseline, vigil security "
                    "test), performance against the runbook's thresholds (RLS overhead, PHI "
                    "query, audit write, encryption). " + _CODES)
    _common(p)
    p.add_argument("--json", action="store_true", help="print JSON (one object per item)")
    p.set_defaults(func=_verify)

    p = sub.add_parser(
        "report", help="write the recovery report (recovery:report) as Markdown and JSON",
        description="Runs the checklist of `vigil recovery verify` and writes it as Markdown "
                    "and JSON; with --incident, also the incident's timeline, containments and "
                    "releases and the time from detection to each milestone (acknowledged, "
                    "contained, resolved), read from the router API. " + _CODES)
    _common(p)
    p.add_argument("--incident", type=_positive_int, default=None, metavar="ID",
                   help="the incident to report on (read from the router)")
    p.add_argument("--out", type=Path, default=Path(".vigil/recovery"),
                   help="folder for the report files (default %(default)s)")
    p.add_argument("--url", default=os.environ.get("VIGIL_ROUTER_URL", "http://127.0.0.1:18091"),
                   help="router base URL (env VIGIL_ROUTER_URL)")
    p.add_argument("--token", default=None,
                   help="router bearer token (default: env VIGIL_ROUTER_TOKEN, else the "
                        "token `vigil up` wrote)")
    p.set_defaults(func=_report)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dsn", default=None,
                   help="a superuser DSN on the monitored database (the security tests become "
                        "each application role; default: $VIGIL_ADMIN_DSN with database "
                        f"{pg.DEFAULT_DEMO_DB}, i.e. the demo)")
    p.add_argument("--window-minutes", type=_positive_float, default=60.0,
                   help="how far back timings and encryption failures are read "
                        "(default %(default)s)")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of minutes, not {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive incident id, not {text}")
    return value


def _run(args: argparse.Namespace) -> tuple[str, list[Item]]:
    dsn = str(args.dsn) if args.dsn else pg.demo_dsn()
    return dsn, verify(dsn, window_minutes=args.window_minutes)


def _print(items: list[Item]) -> None:
    for item in items:
        print(f"{item.mark} {item.name}")
        for c in item.checks:
            mark = "⚠" if c.no_data else "✓" if c.ok else "✗"
            print(f"    {mark} {c.name}: {c.detail}")
    failed = [i.name for i in items if i.failed]
    if failed:
        print(f"failed: {', '.join(failed)}")


def _verify(args: argparse.Namespace) -> int:
    try:
        _, items = _run(args)
    except NotSuperuser as exc:
        print(f"vigil recovery verify: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([i.as_json() for i in items], indent=2, default=str))
    else:
        _print(items)
    return exit_code(items)


def _report(args: argparse.Namespace) -> int:
    from router import client_cli

    inc = None
    if args.incident is not None:
        inc = incident.read(lambda path: client_cli.call(args, "GET", path), args.incident)
    try:
        dsn, items = _run(args)
    except NotSuperuser as exc:
        print(f"vigil recovery report: {exc}", file=sys.stderr)
        return 2
    doc = report.build(items, database=pg.dbname_of(dsn), generated_at=SystemClock().now(),
                       incident=inc)
    md, js = report.write(doc, args.out)
    _print(items)
    print(f"wrote {md} and {js}", file=sys.stderr)
    return exit_code(items)
