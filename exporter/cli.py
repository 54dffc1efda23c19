"""``vigil exporter``: serve the monitoring schema's signals as Prometheus metrics."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from exporter.config import DEFAULT_PORT, ExporterConfig, load_config
from vigil.core import listen
from vigil.core.errors import ConfigError
from vigil.core.logs import fields

log = logging.getLogger("exporter")


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "exporter", help="serve PostgreSQL security and performance metrics for Prometheus",
        description="Collect the vigil_monitor schema's signals on a schedule and serve them "
                    f"on /metrics (default port {DEFAULT_PORT}).")
    p.add_argument("--config", default="config/exporter.yml", help="exporter YAML config")
    p.add_argument("--check-config", action="store_true",
                   help="validate the config (and web config) and exit: 0 valid, 1 invalid. "
                        "Custom queries are also PREPAREd (never run) in a read-only "
                        "transaction on each reachable target, and their result columns "
                        "compared with the metrics' value, labels and watermark; an "
                        "unreachable target is reported as not checked")
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
        return _check_config(args.config, cfg)
    log.info("exporter listening", extra=fields(
        address=address, tls=bool(web_cfg and web_cfg.tls_server_config),
        targets=",".join(t.name for t in cfg.targets)))
    run(cfg, web_cfg, args.web_config_file, address)
    return 0


def _check_config(source: str, cfg: ExporterConfig) -> int:
    from exporter.precheck import check_targets

    report = check_targets(cfg)
    if report.errors:
        raise ConfigError(source, report.errors)
    for line in report.unchecked:
        print(f"{source}: {line}")
    checked = (f"{report.checked} custom queries prepared on the targets" if report.checked
               else "no custom query prepared")
    print(f"{source}: OK ({len(cfg.targets)} targets; {checked})")
    return 0
