"""The responder's web console, served by the router under ``/console/``.

Server-rendered HTML from aiohttp; one small static script (``static/console.js``) keeps
the countdowns ticking and reloads the open page. ``setup(app)`` is the one line in
router/app.py; without a ``console`` section in router.yml it registers nothing and the
notifications carry no ack links. Modules: ``session`` (login, roles, CSRF), ``pages``
(open alerts, timelines, ack/resolve), ``history``, ``overview`` (Prometheus as SVG),
``runbook``, ``links`` (ack links), ``oncall`` (the on-call panel), ``tokens`` (signing),
``sessions`` (server-side session records), ``throttle`` (failed-login limits), ``incident``
(an incident's page and the approval of its pending containments).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from router.config import Config
from router.keys import CONFIG

PREFIX = "/console"
STATIC = Path(__file__).parent / "static"
# No inline script or style, nothing from elsewhere, never framed, forms post only here.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "Cross-Origin-Opener-Policy": "same-origin", "Cache-Control": "no-store"}


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every console response, errors and redirects included, gets the strict headers."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        for name, value in HEADERS.items():
            response.headers[name] = value


async def _root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(f"{PREFIX}/")


def ack_links(config: Config) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """The outbox sender's hook that adds the signed ack link, when the console is on."""
    from router.console import links
    if config.router.console is None:
        return None
    hook: Callable[[dict[str, Any]], dict[str, Any]] = links.decorate(
        config.router.console, config.router.public_url)
    return hook


async def sweep(conn: Any, config: Config, now: datetime) -> None:
    """The router's housekeeping: expired sessions and failed logins out of the window."""
    from router.console import sessions, throttle
    if config.router.console is not None:
        await sessions.sweep(conn, now)
        await throttle.sweep(conn, config.router.console, now)


def setup(app: web.Application) -> None:
    if app[CONFIG].router.console is None:
        return
    from router.console import incident, links, overview, pages, runbook, session
    app.on_response_prepare.append(_headers)
    app.router.add_get(PREFIX, _root)
    for module in (session, pages, incident, overview, runbook, links):
        module.setup_routes(app, PREFIX)
    app.router.add_static(f"{PREFIX}/static", STATIC, show_index=False, follow_symlinks=False)
