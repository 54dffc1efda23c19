"""``vigil db phi|audit|tenant-column|probe``: onboarding an application, one command a step.

Every command is idempotent and prints what it changed (or that nothing had to change).
The guide that strings them together: docs/own-application.md.
"""

from __future__ import annotations

import argparse
from typing import Any

from vigil.core.cliargs import ADMIN_DSN, arg, dsn_or_demo, noun, verb
from vigil.schema import onboard

TABLE = arg("table", metavar="TABLE", help="schema.table")
COLUMN = arg("column", metavar="COLUMN")


def register(sub: Any) -> None:
    verb(sub, "phi", lambda a: _say(onboard.phi(_dsn(a), a.action, a.table, a.column)),
         arg("action", choices=("add", "remove")), TABLE, COLUMN, ADMIN_DSN,
         help="register or unregister a PHI column",
         description="A PHI column is never readable by the probe roles, and its table counts "
                     "for audit coverage.")
    verb(sub, "audit", lambda a: _say(onboard.audit(_dsn(a), a.action, a.table, a.pk)),
         arg("action", choices=("enable", "disable")), TABLE,
         arg("--pk", default=None, metavar="COLUMN",
             help="column identifying a row (default: the table's primary key)"), ADMIN_DSN,
         help="put the audit trigger on a table, or take it off",
         description="enable: every INSERT/UPDATE/DELETE of TABLE writes an audit row "
                     "(identifiers only) with the row's tenant.")
    verb(sub, "tenant-column", lambda a: _say(onboard.tenant_column(_dsn(a), a.table, a.column)),
         TABLE, COLUMN, ADMIN_DSN,
         help="name the tenant column of a table (any type)",
         description="Audit rows take their tenant from it; tenant isolation is probed on it. "
                     "Without one, a column named tenant_id is used.")

    psub = noun(sub, "probe", "the RLS probe: tenant, roles, per-table queries")
    verb(psub, "set", _probe_set,
         arg("--tenant", default=None,
             help="tenant the probe measures (must have rows; '' unsets it)"),
         arg("--role", dest="roles", action="append", default=None, metavar="ROLE",
             help="run the probe as ROLE (repeat for several; default: the roles named in the "
                  "policies, TO role)"),
         arg("--default-roles", action="store_true",
             help="go back to the roles named in the policies"), ADMIN_DSN,
         help="probe tenant and the roles the probe runs as",
         description="The RLS probe measures TABLE's query as the roles its policies apply "
                     "to, for one tenant that has data.")
    verb(psub, "query",
         lambda a: _say(*onboard.probe_query(_dsn(a), a.table, a.sql, a.columns)),
         TABLE, arg("sql", metavar="SQL", nargs="?", default=None),
         arg("--column", dest="columns", action="append", default=[], metavar="COLUMN",
             help="a column of TABLE the query reads (allow-listed for the probe roles)"),
         ADMIN_DSN,
         help="the representative query of one RLS table",
         description="Without SQL, back to the default (SELECT count(*) FROM table). The probe "
                     "roles read only primary-key and tenant columns plus those named with "
                     "--column.")


_dsn = dsn_or_demo


def _say(*lines: str) -> int:
    for line in lines:
        print(line)
    return 0


def _probe_set(args: argparse.Namespace) -> int:
    roles: list[str] | None = [] if args.default_roles else args.roles
    return _say(*onboard.probe_set(_dsn(args), args.tenant, roles))
