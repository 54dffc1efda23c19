"""One way to declare a ``vigil`` subcommand: its options as data, its handler, and the
options many commands share (the DSNs, ``--json``, positive numbers).

    sub = noun(subparsers, "check", "the runbook's checks")
    verb(sub, "health", _health, MONITOR_DSN, JSON, arg("--rls-ms", type=positive),
         help="Daily Health Check", description="...")
"""

from __future__ import annotations

import argparse
import inspect
import math
from collections.abc import Callable
from typing import Any, TypeVar

from vigil.core import pg

Arg = tuple[tuple[str, ...], dict[str, Any]]
Handler = Callable[[argparse.Namespace], int]
N = TypeVar("N", int, float)


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
    """Add verb ``name``; its --help text is ``description``, else the handler's docstring
    (where it sits beside the code it describes)."""
    text = description if description is not None else inspect.cleandoc(func.__doc__ or "")
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=text or None)
    for flags, kwargs in args:
        parser.add_argument(*flags, **kwargs)
    parser.set_defaults(func=func)
    return parser


def number(cast: Callable[[str], N], *, above: float | None = None,
           at_least: float | None = None, at_most: float | None = None) -> Callable[[str], N]:
    """An argparse type for a bounded number: ``number(int, at_least=1, at_most=500)``.
    NaN is refused (it compares false with every bound)."""
    kind = "a whole number" if cast is int else "a number"
    bounds = [f"above {above:g}" if above is not None else "",
              f"at least {at_least:g}" if at_least is not None else "",
              f"at most {at_most:g}" if at_most is not None else ""]
    expected = f"{kind} " + ", ".join(b for b in bounds if b) if any(bounds) else kind

    def parse(text: str) -> N:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {expected}, not {text!r}") from None
        ok = (not math.isnan(value)
              and (above is None or value > above)
              and (at_least is None or value >= at_least)
              and (at_most is None or value <= at_most))
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {expected}, not {text}")
        return value

    return parse


positive = number(float, above=0)        # windows, thresholds, intervals
positive_int = number(int, above=0)      # samples, budgets, batch sizes


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
