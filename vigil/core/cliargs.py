"""One way to declare a ``vigil`` subcommand: its options as data, its handler, and the
options many commands share (the DSNs, ``--json``, positive numbers).

    sub = noun(subparsers, "check", "the runbook's checks")
    verb(sub, "health", _health, MONITOR_DSN, JSON, arg("--rls-ms", type=positive),
         help="Daily Health Check", description="...")
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from vigil.core import pg

Arg = tuple[tuple[str, ...], dict[str, Any]]
Handler = Callable[[argparse.Namespace], int]


def arg(*flags: str, **kwargs: Any) -> Arg:
    """An ``add_argument`` call, kept as data until ``verb`` builds the parser."""
    return flags, kwargs


def noun(subparsers: Any, name: str, help: str, metavar: str = "ACTION") -> Any:
    """``vigil NAME ...``: a group of verbs; returns where its verbs are added."""
    parser = subparsers.add_parser(name, help=help)
    return parser.add_subparsers(dest=f"{name.replace('-', '_')}_command", metavar=metavar,
                                 required=True)


def verb(sub: Any, name: str, func: Handler, *args: Arg, help: str,
         description: str | None = None) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
    for flags, kwargs in args:
        parser.add_argument(*flags, **kwargs)
    parser.set_defaults(func=func)
    return parser


def positive(text: str) -> float:
    """A number > 0 (NaN refused too): windows, thresholds, intervals."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def dsn_or_demo(args: argparse.Namespace) -> str:
    """``--dsn`` when given, else the demo database every command defaults to."""
    return str(args.dsn) if getattr(args, "dsn", None) else pg.demo_dsn()


ADMIN_DSN = arg("--dsn", default=None,
                help="superuser DSN of the monitored database (default: $VIGIL_ADMIN_DSN, "
                     f"else {pg.DEFAULT_ADMIN_DSN}, with database {pg.DEFAULT_DEMO_DB}: the "
                     "database `vigil check` reads)")
MONITOR_DSN = arg("--dsn", default=None,
                  help="DSN of the monitoring login (e.g. vigil_exporter) on the monitored "
                       "database; no superuser needed (default: $VIGIL_ADMIN_DSN with database "
                       f"{pg.DEFAULT_DEMO_DB}, i.e. the demo)")
JSON = arg("--json", action="store_true", help="print JSON for scripts")
