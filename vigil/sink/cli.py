"""``vigil sink``: run the local notification sink."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aiohttp import web

from vigil.sink.app import create_app
from vigil.sink.store import PageStore

DEFAULT_PORT = 18092
log = logging.getLogger("vigil.sink")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "sink", help="run the local notification sink (shows who was paged)",
        description=(
            "A local stand-in for people's pagers. The router's webhook and Slack channels "
            "post to /hook/TARGET and /slack/TARGET; each page is printed as one line and "
            "listed at / (auto-refresh) and /api/pages (JSON)."))
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)")
    p.add_argument("--record", type=Path, default=None,
                   help="also append every page as a JSON line to this file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    app = create_app(PageStore(record_path=args.record))
    print(f"vigil sink listening on http://{args.host}:{args.port}/ "
          f"(deliveries: POST /hook/TARGET or /slack/TARGET)", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0
