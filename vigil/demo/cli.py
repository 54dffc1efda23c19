"""``vigil demo setup|load|inject|heal``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vigil.core import pg
from vigil.demo import app, faults, load, traffic


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="the demo tenant application and its faults")
    sub = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--admin-dsn", default=None,
                       help="superuser DSN (default $VIGIL_ADMIN_DSN or local postgres)")
        p.add_argument("--db", default=pg.demo_db(),
                       help="demo database (env VIGIL_DEMO_DB; default %(default)s)")

    p = sub.add_parser("setup", help="create the demo database and install vigil_monitor")
    common(p)
    p.add_argument("--tenants", type=int, default=3)
    p.set_defaults(func=_setup)

    p = sub.add_parser("load", help="run the demo workload (progress on stderr)")
    common(p)
    p.add_argument("--rate", type=_positive, default=20.0, help="operations per second (> 0)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds (0 = until Ctrl-C)")
    p.add_argument("--tenants", type=int, default=3)
    p.add_argument("--rotate-every", type=float, default=None,
                   help="seconds between key rotations (default: once, halfway)")
    p.add_argument("--denied-every", type=float, default=traffic.DENIED_EVERY,
                   help="seconds between the background's denied cross-tenant requests "
                        "(%(default)g; 0 = none)")
    p.set_defaults(func=_load)

    p = sub.add_parser("inject", help="inject a real fault")
    common(p)
    p.add_argument("fault", choices=faults.FAULTS)
    p.set_defaults(func=_inject)

    p = sub.add_parser("heal", help="heal one fault, or all of them")
    common(p)
    p.add_argument("fault", nargs="?", choices=faults.FAULTS)
    p.set_defaults(func=_heal)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _info(args: argparse.Namespace) -> app.DemoInfo:
    return app.info(args.admin_dsn or pg.admin_dsn(), args.db)


def _setup(args: argparse.Namespace) -> int:
    info = app.setup(args.admin_dsn or pg.admin_dsn(), args.db, tenants=args.tenants)
    print(f"demo database {info.dbname} ready (app role {app.APP_ROLE}, "
          "monitoring role vigil_exporter)")
    return 0


def _load(args: argparse.Namespace) -> int:
    stats = load.run_load(
        _info(args), duration=args.duration or float("inf"), rate=args.rate,
        tenants=args.tenants, rotate_every=args.rotate_every, denied_every=args.denied_every,
        progress=lambda s: print(s.line(), file=sys.stderr, flush=True))
    return 0 if stats.ops else 1


def _inject(args: argparse.Namespace) -> int:
    done = faults.inject(_info(args).admin_dsn, args.fault)
    detail = " ".join(f"{k}={v}" for k, v in done.items())
    print(f"injected {args.fault} {detail}".rstrip())
    return 0


def _heal(args: argparse.Namespace) -> int:
    healed = faults.heal(_info(args).admin_dsn, args.fault)
    print(f"healed: {', '.join(healed) if healed else 'nothing was injected'}")
    return 0
