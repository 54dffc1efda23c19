"""``vigil db phi|audit|tenant-column|probe``: onboarding an application, one command a step.

Every command is idempotent and prints what it changed (or that nothing had to change).
The guide that strings them together: docs/own-application.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from vigil.core import pg
from vigil.schema import onboard


def register(sub: Any, dsn_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("phi", help="register or unregister a PHI column",
                       description="A PHI column is never readable by the probe roles, and its "
                                   "table counts for audit coverage.")
    p.add_argument("action", choices=("add", "remove"))
    p.add_argument("table", metavar="TABLE", help="schema.table")
    p.add_argument("column", metavar="COLUMN")
    dsn_arg(p)
    p.set_defaults(func=lambda a: _say(onboard.phi(_dsn(a), a.action, a.table, a.column)))

    p = sub.add_parser("audit", help="put the audit trigger on a table, or take it off",
                       description="enable: every INSERT/UPDATE/DELETE of TABLE writes an audit "
                                   "row (identifiers only) with the row's tenant.")
    p.add_argument("action", choices=("enable", "disable"))
    p.add_argument("table", metavar="TABLE", help="schema.table")
    p.add_argument("--pk", default=None, metavar="COLUMN",
                   help="column identifying a row (default: the table's primary key)")
    dsn_arg(p)
    p.set_defaults(func=lambda a: _say(onboard.audit(_dsn(a), a.action, a.table, a.pk)))

    p = sub.add_parser("tenant-column", help="name the tenant column of a table (any type)",
                       description="Audit rows take their tenant from it; tenant isolation is "
                                   "probed on it. Without one, a column named tenant_id is used.")
    p.add_argument("table", metavar="TABLE", help="schema.table")
    p.add_argument("column", metavar="COLUMN")
    dsn_arg(p)
    p.set_defaults(func=lambda a: _say(onboard.tenant_column(_dsn(a), a.table, a.column)))

    probe = sub.add_parser("probe", help="the RLS probe: tenant, roles, per-table queries")
    psub = probe.add_subparsers(dest="probe_command", metavar="ACTION", required=True)
    p = psub.add_parser("set", help="probe tenant and the roles the probe runs as",
                        description="The RLS probe measures TABLE's query as the roles its "
                                    "policies apply to, for one tenant that has data.")
    p.add_argument("--tenant", default=None,
                   help="tenant the probe measures (must have rows; '' unsets it)")
    p.add_argument("--role", dest="roles", action="append", default=None, metavar="ROLE",
                   help="run the probe as ROLE (repeat for several; default: the roles named "
                        "in the policies, TO role)")
    p.add_argument("--default-roles", action="store_true",
                   help="go back to the roles named in the policies")
    dsn_arg(p)
    p.set_defaults(func=_probe_set)

    p = psub.add_parser("query", help="the representative query of one RLS table",
                        description="Without SQL, back to the default (SELECT count(*) FROM "
                                    "table). The probe roles read only primary-key and tenant "
                                    "columns plus those named with --column.")
    p.add_argument("table", metavar="TABLE", help="schema.table")
    p.add_argument("sql", metavar="SQL", nargs="?", default=None)
    p.add_argument("--column", dest="columns", action="append", default=[], metavar="COLUMN",
                   help="a column of TABLE the query reads (allow-listed for the probe roles)")
    dsn_arg(p)
    p.set_defaults(func=lambda a: _say(*onboard.probe_query(_dsn(a), a.table, a.sql, a.columns)))


def _dsn(args: argparse.Namespace) -> str:
    return str(args.dsn) if args.dsn else pg.demo_dsn()  # as vigil/schema/cli.py db_dsn


def _say(*lines: str) -> int:
    for line in lines:
        print(line)
    return 0


def _probe_set(args: argparse.Namespace) -> int:
    roles: list[str] | None = [] if args.default_roles else args.roles
    return _say(*onboard.probe_set(_dsn(args), args.tenant, roles))
