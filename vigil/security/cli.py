"""``vigil security test``: the runbook's ``security:test``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vigil.core import pg
from vigil.core.cliargs import ADMIN_DSN, JSON, arg, dsn_or_demo, noun, verb
from vigil.security.result import Outcome
from vigil.security.run import NotSuperuser, run_tests


def register(subparsers: Any) -> None:
    sub = noun(subparsers, "security", "active tests of the security controls")
    verb(sub, "test", _test, ADMIN_DSN, JSON,
         arg("--app-role", action="append", default=[], metavar="ROLE",
             help="an application role to test beside those found (roles granted a tenant "
                  "table or named in its policies); repeatable"),
         help="try what each control must refuse (security:test)",
         description="Active tests of the controls, each reported with what it tried: as each "
                     "application role (SET ROLE), another tenant's rows are invisible and "
                     "unwritable and an unset tenant sees nothing; the monitoring roles cannot "
                     "read a PHI column; no application role has BYPASSRLS or owns an RLS table "
                     "without FORCE; the audit log refuses UPDATE, DELETE and TRUNCATE; "
                     "containment blocks what it claims (on a throwaway role, actor and "
                     "tenant). No row is stored. Needs a superuser --dsn. ✓ pass, ✗ fail, ⚠ not "
                     "examined (and why: never a pass). Exit 0 all ✓, 1 any ✗, 2 no ✗ but some "
                     "⚠, or a usage error.")


def _test(args: argparse.Namespace) -> int:
    dsn = dsn_or_demo(args)
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
