"""``vigil db maintain``: registered under the ``db`` noun by vigil/schema/cli.py."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from types import FrameType
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from vigil.core import pg
from vigil.core.errors import DatabaseUnavailable, VigilError
from vigil.maintain import worker
from vigil.schema.contract import DEFAULT_MAINTAINER_ROLE


def register(db_sub: Any) -> None:
    p = db_sub.add_parser(
        "maintain", help="roll up access counters and trim monitoring tables to retention",
        description="Long-lived unless --once. Connects as the least-privilege role "
                    f"{DEFAULT_MAINTAINER_ROLE} (created by `vigil db install`).")
    p.add_argument("--dsn", default=None,
                   help="DSN of the monitored database (default: $VIGIL_MAINTAIN_DSN, else "
                        "$VIGIL_ADMIN_DSN on database vigil_demo, as vigil check, with the user "
                        "replaced by --role)")
    p.add_argument("--role", default=DEFAULT_MAINTAINER_ROLE,
                   help="role used when --dsn is not given (default %(default)s)")
    p.add_argument("--once", action="store_true", help="one pass, then exit (for cron)")
    p.add_argument("--interval", type=float, default=60.0,
                   help="seconds between passes (default %(default)s)")
    p.add_argument("--batch", type=int, default=10_000,
                   help="rows per rollup/delete transaction (default %(default)s)")
    p.add_argument("--retry-max", type=float, default=60.0,
                   help="longest wait between reconnect attempts while the database is "
                        "down, in seconds (default %(default)s)")
    p.set_defaults(func=_maintain)


def maintain_dsn(explicit: str | None, role: str) -> str:
    if explicit:
        return explicit
    env = os.environ.get("VIGIL_MAINTAIN_DSN")
    if env:
        return env
    params = {k: v for k, v in conninfo_to_dict(pg.demo_dsn()).items() if k != "password"}
    params["user"] = role
    return make_conninfo("", **params)


def _maintain(args: argparse.Namespace) -> int:
    if args.batch < 1 or args.interval <= 0:
        raise VigilError("--batch must be >= 1 and --interval > 0")
    dsn = maintain_dsn(args.dsn, args.role)
    if args.once:
        with pg.connect(dsn, application_name="vigil-maintain") as conn:
            try:
                stats = worker.run_once(conn, batch=args.batch)
            except psycopg.errors.InsufficientPrivilege:
                raise VigilError("the maintenance role may not run the maintenance functions; "
                                 "run `vigil db install` (it grants them)") from None
            except psycopg.Error as exc:
                raise DatabaseUnavailable(
                    f"maintenance pass failed ({worker.error_class(exc)})") from None
        print(f"rolled up {sum(stats.rolled.values())} rows, "
              f"trimmed {sum(stats.trimmed.values())} rows")
        return 0
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.serve(dsn, interval=args.interval, batch=args.batch, stop=stop,
                     backoff=worker.Backoff(initial=min(1.0, args.retry_max),
                                            maximum=args.retry_max))
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 0
