"""``vigil recovery verify|report``: the runbook's Recovery Procedures as commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from vigil.core import cliargs, pg
from vigil.core.cliargs import arg, verb
from vigil.core.clock import SystemClock
from vigil.recovery import incident, report
from vigil.recovery.verify import Item, exit_code, verify
from vigil.security.run import NotSuperuser

_CODES = "Exit 0 every item ✓, 1 any item ✗ (each named), 2 no ✗ but some ⚠ no data, or a " \
         "usage error."


def register(subparsers: Any) -> None:
    sub = cliargs.noun(subparsers, "recovery", "the System Recovery Checklist as checks")
    window = arg("--window-minutes", type=cliargs.positive, default=60.0,
                 help="how far back timings and encryption failures are read, > 0 "
                      "(default %(default)s)")
    verb(sub, "verify", _verify, cliargs.ADMIN_DSN, cliargs.JSON, window,
         help="run the recovery checklist (system:verify, data:verify, security:test)",
         description="The runbook's System Recovery Checklist: system integrity (schema "
                     "objects, audit chain), data consistency (rows without a tenant, "
                     "encryption failures, re-encryption), tenant isolation (probe and active "
                     "tests), audit completeness (coverage), security controls (baseline, vigil "
                     "security test), performance against the runbook's thresholds (RLS "
                     "overhead, PHI query, audit write, encryption). Needs a superuser --dsn. "
                     + _CODES)
    verb(sub, "report", _report, cliargs.ADMIN_DSN, window,
         arg("--incident", type=cliargs.positive_int, default=None, metavar="ID",
             help="the incident to report on (read from the router)"),
         arg("--out", type=Path, default=Path(".vigil/recovery"),
             help="folder for the report files (default %(default)s)"),
         arg("--url", default=os.environ.get("VIGIL_ROUTER_URL", "http://127.0.0.1:18091"),
             help="router base URL (env VIGIL_ROUTER_URL)"),
         arg("--token", default=None,
             help="router bearer token (default: env VIGIL_ROUTER_TOKEN, else the token "
                  "`vigil up` wrote)"),
         help="write the recovery report (recovery:report) as Markdown and JSON",
         description="Runs the checklist of `vigil recovery verify` and writes it as Markdown "
                     "and JSON; with --incident, also the incident's timeline, containments "
                     "and releases and the time from detection to each milestone "
                     "(acknowledged, contained, resolved), read from the router API. " + _CODES)


def _run(args: argparse.Namespace) -> tuple[str, list[Item]]:
    dsn = cliargs.dsn_or_demo(args)
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
