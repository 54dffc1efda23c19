"""``vigil exporter``: serve the monitoring schema's signals as Prometheus metrics."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from exporter.config import DEFAULT_PORT, load_config
from vigil.core import listen
from vigil.core.logs import fields

log = logging.getLogger("exporter")


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "exporter", help="serve PostgreSQL security and performance metrics for Prometheus",
        description="Collect the vigil_monitor schema's signals on a schedule and serve them "
                    f"on /metrics (default port {DEFAULT_PORT}).")
    p.add_argument("--config", default="config/exporter.yml", help="exporter YAML config")
    p.add_argument("--check-config", action="store_true",
                   help="validate the config (and web config) and exit: 0 valid, 1 invalid")
    p.add_argument("--web.config.file", dest="web_config_file", default=None,
                   help="TLS/basic-auth config in Prometheus exporter-toolkit format")
    p.add_argument("--web.listen-address", dest="listen_address", default=None,
                   help=f"host:port to listen on (default from config, 127.0.0.1:{DEFAULT_PORT})")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from exporter.web import run
    from exporter.webconfig import load_web_config

    cfg = load_config(args.config)
    web_cfg = load_web_config(args.web_config_file) if args.web_config_file else None
    address = args.listen_address or cfg.web.listen_address
    listen.parse(address, "--web.listen-address" if args.listen_address
                 else f"{args.config}: web.listen_address")
    if args.check_config:
        print(f"{args.config}: OK ({len(cfg.targets)} targets)")
        return 0
    log.info("exporter listening", extra=fields(
        address=address, tls=bool(web_cfg and web_cfg.tls_server_config),
        targets=",".join(t.name for t in cfg.targets)))
    run(cfg, web_cfg, args.web_config_file, address)
    return 0
