"""The sink's aiohttp app: receive deliveries, show who was paged.

Routes:
- ``POST /notify`` (the router's default sink URL) and ``POST /hook/{target}``: a generic
  JSON webhook delivery, target from the URL or the body;
- ``POST /slack/{target}``: a Slack-style incoming-webhook delivery (``{"text": ...}``);
- ``POST /notify/{target}``, ``POST /hook`` and ``POST /slack``: the same, target from the
  body where the URL has none;
- ``GET /api/pages``: every page as JSON (filters: ``target``, ``alertname``, ``since``);
- ``DELETE /api/pages``: forget every page (for demos and tests);
- ``GET /``: an auto-refreshing HTML table;
- ``GET /-/healthy``, ``GET /-/ready``.
"""

from __future__ import annotations

import html
import json
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from aiohttp import web

from vigil.core.clock import Clock, SystemClock
from vigil.sink.store import Page, PageStore, describe

log = logging.getLogger("vigil.sink")

STORE = web.AppKey("store", PageStore)
CLOCK = web.AppKey("clock", Clock)
ECHO: web.AppKey[Callable[[Page], None]] = web.AppKey("echo")

MAX_BODY = 1024 * 1024


def _echo_to(stream: TextIO) -> Callable[[Page], None]:
    def echo(page: Page) -> None:
        print(page.line(), file=stream, flush=True)

    return echo


def create_app(store: PageStore | None = None, *, clock: Clock | None = None,
               echo: Callable[[Page], None] | None = None) -> web.Application:
    """App factory; does no I/O. ``echo`` gets each page (default: one line on stdout)."""
    app = web.Application(client_max_size=MAX_BODY)
    app[STORE] = store if store is not None else PageStore()
    app[CLOCK] = clock if clock is not None else SystemClock()
    app[ECHO] = echo if echo is not None else _echo_to(sys.stdout)
    app.router.add_post("/notify/{target}", _receive("webhook"))
    app.router.add_post("/notify", _receive("webhook"))
    app.router.add_post("/hook/{target}", _receive("webhook"))
    app.router.add_post("/hook", _receive("webhook"))
    app.router.add_post("/slack/{target}", _receive("slack"))
    app.router.add_post("/slack", _receive("slack"))
    app.router.add_get("/api/pages", _list_pages)
    app.router.add_delete("/api/pages", _clear_pages)
    app.router.add_get("/", _index)
    app.router.add_get("/-/healthy", _ok)
    app.router.add_get("/-/ready", _ok)
    return app


Handler = Callable[[web.Request], Any]


def _receive(channel: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        raw = await request.read()
        body: Any
        try:
            body = json.loads(raw) if raw else {}
        except (ValueError, UnicodeDecodeError):
            # A sink accepts anything: a form-encoded or plain body is still a page.
            body = raw.decode("utf-8", errors="replace")
        facts = describe(body, channel=channel, target=request.match_info.get("target"),
                         headers=request.headers)
        now: datetime = request.app[CLOCK].now()
        page = request.app[STORE].add(received_at=now, body=body, **facts)
        request.app[ECHO](page)
        # Slack answers a plain "ok"; a webhook gets the recorded page back.
        if channel == "slack":
            return web.Response(text="ok")
        return web.json_response({"ok": True, "seq": page.seq, "duplicate": page.duplicate})

    return handler


async def _list_pages(request: web.Request) -> web.Response:
    q = request.query
    try:
        since = int(q.get("since", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text="since: expected an integer sequence number") from None
    pages = request.app[STORE].pages(target=q.get("target"), alertname=q.get("alertname"),
                                     since=since)
    return web.json_response({"pages": [p.to_json() for p in pages]})


async def _clear_pages(request: web.Request) -> web.Response:
    request.app[STORE].clear()
    return web.json_response({"ok": True})


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="OK\n")


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
<title>vigil sink: who was paged</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .3em .6em; text-align: left; }}
th {{ background: #f4f4f4; }} tr.dup td {{ color: #999; }}
.P1 {{ color: #b00; font-weight: bold; }} .P2 {{ color: #c60; font-weight: bold; }}
</style></head>
<body><h1>vigil notification sink</h1>
<p>{count} page(s). Refreshes every 3 s. JSON: <a href="/api/pages">/api/pages</a></p>
<table><tr><th>#</th><th>received (UTC)</th><th>target</th><th>step</th><th>severity</th>
<th>event</th><th>alert</th><th>via</th><th>idempotency key</th></tr>
{rows}
</table></body></html>
"""


def _row(page: Page) -> str:
    cells = [str(page.seq), page.received_at.strftime("%Y-%m-%d %H:%M:%S"), page.target,
             "-" if page.step is None else str(page.step), page.severity or "-",
             page.kind or "-", page.alertname or "-", page.channel,
             (page.idempotency_key or "-") + (" (duplicate)" if page.duplicate else "")]
    sev = html.escape(page.severity or "")
    tds = "".join(
        f'<td class="{sev}">{html.escape(c)}</td>' if i == 4 else f"<td>{html.escape(c)}</td>"
        for i, c in enumerate(cells))
    return f'<tr class="{"dup" if page.duplicate else ""}">{tds}</tr>'


async def _index(request: web.Request) -> web.Response:
    pages = request.app[STORE].pages()
    rows = "\n".join(_row(p) for p in reversed(pages))
    return web.Response(text=_PAGE.format(count=len(pages), rows=rows),
                        content_type="text/html")
