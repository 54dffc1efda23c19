"""``vigil security test``: the runbook's ``security:test``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vigil.core import pg
from vigil.security.result import Outcome
from vigil.security.run import NotSuperuser, run_tests


def register(subparsers: Any) -> None:
    sec = subparsers.add_parser("security", help="active tests of the security controls")
    sub = sec.add_subparsers(dest="security_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "test", help="try what each control must refuse (security:test)",
        description="Active tests of the controls, each reported with what it tried: as each "
                    "application role (SET ROLE), another tenant's rows are invisible and "
                    "unwritable and an unset tenant sees nothing; the monitoring roles cannot "
                    "read a PHI column; no application role has BYPASSRLS or owns an RLS table "
                    "without FORCE; the audit log refuses UPDATE, DELETE and TRUNCATE; "
                    "containment blocks what it claims. Writes run in transactions that are "
                    "rolled back. ✓ pass, ✗ fail, ⚠ not examined (and why: never a pass). "
                    "Exit 0 all ✓, 1 any ✗, 2 no ✗ but some ⚠ (or a usage error).")
    p.add_argument("--dsn", default=None,
                   help="a superuser DSN on the monitored database (it becomes each role "
                        "with SET ROLE; default: $VIGIL_ADMIN_DSN with database "
                        f"{pg.DEFAULT_DEMO_DB}, i.e. the demo)")
    p.add_argument("--app-role", action="append", default=[], metavar="ROLE",
                   help="an application role to test beside those found (roles granted a "
                        "tenant table or named in its policies); repeatable")
    p.add_argument("--json", action="store_true", help="print JSON (one object per test)")
    p.set_defaults(func=_test)


def _test(args: argparse.Namespace) -> int:
    dsn = str(args.dsn) if args.dsn else pg.demo_dsn()
    with pg.connect(dsn, application_name="vigil-security-test") as conn:
        missing = [r for r in args.app_role if conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (r,)).fetchone() is None]
    if missing:
        print(f"vigil security test: --app-role: no role {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        results = run_tests(dsn, tuple(args.app_role))
    except NotSuperuser as exc:
        print(f"vigil security test: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([r.as_json() for r in results], indent=2))
    else:
        for r in results:
            print(r.line())
    if any(r.outcome is Outcome.FAIL for r in results):
        return 1
    return 2 if any(r.outcome is Outcome.NOT_EXAMINED for r in results) else 0
