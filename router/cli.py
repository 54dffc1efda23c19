"""``vigil router [--config FILE] [--web.listen-address HOST:PORT] [--check-config]`` and
``vigil router migrate``."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from typing import Any

from vigil.core.logs import fields

log = logging.getLogger("vigil.router")
DEFAULT_CONFIG = "config/router.yml"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "router", help="run the escalation router (Alertmanager webhook -> P1-P4 matrix)",
        description="Run the router, or apply its schema migrations with `vigil router migrate`.")
    p.add_argument("action", nargs="?", choices=["run", "migrate"], default="run",
                   help="run (default) or migrate")
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"router.yml (default {DEFAULT_CONFIG}); names escalation.yml")
    p.add_argument("--check-config", action="store_true",
                   help="validate router.yml, escalation.yml and oncall.yml, exit 0 if valid, "
                        "1 if not")
    p.add_argument("--web.listen-address", dest="listen_address", default=None,
                   metavar="HOST:PORT",
                   help="host:port to listen on, overriding listen.host/port of router.yml "
                        "(default from config, 127.0.0.1:18091); ':PORT' means all interfaces")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from router.config import load_config, parse_listen_address
    from router.migrate import migrate

    config = load_config(args.config)  # ConfigError -> every detail printed, exit 1
    if args.listen_address:
        listen = parse_listen_address(args.listen_address)
        config = dataclasses.replace(config, router=dataclasses.replace(config.router,
                                                                        listen=listen))
    if args.check_config:
        levels = ", ".join(sorted(config.escalation.levels))
        print(f"{args.config}: valid (levels {levels}; "
              f"{len(config.escalation.targets)} targets, "
              f"{len(config.escalation.channels)} channels, "
              f"{len(config.oncall.schedules)} on-call schedules)")
        return 0
    dsn = str(config.router.database.dsn)
    applied = migrate(dsn)
    if args.action == "migrate":
        print(f"vigil_router schema: applied {applied or 'nothing (up to date)'}")
        return 0
    from aiohttp import web

    from router.app import create_app

    listen = config.router.listen
    log.info("router starting", extra=fields(host=listen.host, port=listen.port,
                                             levels=len(config.escalation.levels)))
    from router.netaddr import AccessLogger
    web.run_app(create_app(config), host=listen.host, port=listen.port, access_log=None,
                access_log_class=AccessLogger, print=None, handle_signals=True)
    return 0
