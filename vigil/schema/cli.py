"""``vigil db install|status|grants``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vigil.core import pg
from vigil.core.cliargs import ADMIN_DSN, arg, dsn_or_demo, noun, verb
from vigil.schema import installer, roles
from vigil.schema.contract import (
    DEFAULT_EXPORTER_ROLE,
    DEFAULT_MAINTAINER_ROLE,
    DEFAULT_SEALER_ROLE,
)


def register(subparsers: Any) -> None:
    sub = noun(subparsers, "db", "install and inspect the vigil_monitor schema")
    verb(sub, "install", _install, ADMIN_DSN,
         *(arg(f"--{kind}-role", default=default, help=f"{what} (default %(default)s)")
           for kind, default, what in (
               ("exporter", DEFAULT_EXPORTER_ROLE, "monitoring role to create and grant"),
               ("sealer", DEFAULT_SEALER_ROLE, "audit sealer role to create and grant"),
               ("maintainer", DEFAULT_MAINTAINER_ROLE, "role `vigil db maintain` runs as, "
                "created and granted only the maintenance functions"))),
         help="apply pending vigil_monitor SQL (idempotent)")
    verb(sub, "status", _status, ADMIN_DSN,
         help="installed version, missing objects, what is not monitored",
         description="Exit 0 when every contract object is present and nothing is left "
                     "unmonitored (probe tenant, RLS tables measured, PHI tables audited, "
                     "tenant columns, RLS bypass); else 1, with the command that fixes each "
                     "finding.")
    verb(sub, "grants", _grants, ADMIN_DSN,
         arg("--role", default=DEFAULT_EXPORTER_ROLE,
             help="the monitoring role (default %(default)s)"),
         arg("--app-role", default=None, metavar="ROLE",
             help="grant the application role instead (it must exist)"),
         arg("--print", dest="print_only", action="store_true",
             help="print the GRANT script instead of applying it"),
         help="grant a monitoring role, or the application role",
         description="Without --app-role: pg_monitor and the read grants to the monitoring "
                     "role. With --app-role: EXECUTE on the record_* functions the application "
                     "calls, and nothing else.")

    from vigil.maintain import cli as maintain_cli  # vigil db maintain
    from vigil.schema import controls, onboard_cli  # db phi|audit|tenant-column|probe|baseline

    maintain_cli.register(sub)
    onboard_cli.register(sub)
    controls.register(sub)


# --dsn, else the admin DSN on the demo database: the same database `vigil check` and `vigil
# audit` read, so `vigil db status` after `vigil demo setup` describes that one.
db_dsn = dsn_or_demo


def _install(args: argparse.Namespace) -> int:
    applied = installer.install(db_dsn(args), exporter_role=args.exporter_role,
                                sealer_role=args.sealer_role,
                                maintainer_role=args.maintainer_role)
    st = installer.status(db_dsn(args))
    if applied:
        print(f"vigil_monitor: applied {', '.join(map(str, applied))}; "
              f"now at version {st.installed_version}")
    else:
        print(f"vigil_monitor: already at version {st.installed_version}, nothing to do")
    return 0 if st.ok else 1


def _status(args: argparse.Namespace) -> int:
    st = installer.status(db_dsn(args))
    print(f"installed version: {st.installed_version if st.installed_version else 'none'}"
          f" (latest {st.latest_version})")
    if st.pending:
        print(f"pending: {', '.join(map(str, st.pending))}")
    for name in st.missing:
        print(f"missing: {name}")
    if st.ok:
        print("all contract objects present")
    _print_storage(db_dsn(args))
    unmonitored = _print_unmonitored(db_dsn(args)) if st.installed_version else 0
    return 0 if st.ok and not unmonitored else 1


def _print_unmonitored(dsn: str) -> int:
    from vigil.schema.coverage import findings

    with pg.connect(dsn) as conn:
        found = findings(conn)
    if not found:
        print("monitored: every RLS table measured, every PHI table audited, tenant columns "
              "known, probe tenant set, no role bypasses RLS")
    for f in found:
        print(f"not monitored: {f.problem}\n  fix: {f.fix}")
    return len(found)


def _print_storage(dsn: str) -> None:
    from vigil.maintain.storage import human_bytes, table_storage

    with pg.connect(dsn) as conn:
        rows = table_storage(conn)
    if rows:
        print("monitoring tables (size, oldest row, retention):")
    for r in rows:
        oldest = r.oldest.isoformat(timespec="seconds") if r.oldest else "empty"
        print(f"  {r.table:<22} {human_bytes(r.size_bytes):>9}  oldest {oldest:<25}  "
              f"retention {r.retention or 'none (kept for ever)'}")


def _grants(args: argparse.Namespace) -> int:
    if args.app_role:
        from vigil.schema import onboard

        print(onboard.grant_app(db_dsn(args), args.app_role))
        return 0
    if args.print_only:
        sys.stdout.write(roles.grants_script(args.role))
        return 0
    installer.grant_exporter(db_dsn(args), args.role)
    print(f"granted pg_monitor and vigil_monitor read access to {args.role}")
    return 0
