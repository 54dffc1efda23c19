"""HTML for the console: one layout, escaped values, no template engine.

Every value that reaches a page goes through ``h`` (html.escape, quotes included); the
markup itself is constant text here and in the page modules. No inline script or style
anywhere: the Content-Security-Policy (router/console/__init__.py) would refuse it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from router.console.tokens import Session


def h(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def countdown(due: datetime | None, now: datetime) -> str:
    """``in 14m 05s`` (or ``overdue 3s``), with the instant for console.js to keep ticking."""
    if due is None:
        return ""
    secs = int((due - now).total_seconds())
    text = ("in " if secs >= 0 else "overdue ") + span(abs(secs))
    return f'<span class="countdown" data-due="{h(due.isoformat())}">{h(text)}</span>'


def span(seconds: float) -> str:
    s = int(seconds)
    d, rest = divmod(s, 86400)
    hh, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    if d:
        return f"{d}d {hh}h"
    if hh:
        return f"{hh}h {m:02d}m"
    return f"{m}m {sec:02d}s"


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], empty: str = "none") -> str:
    """Cells are HTML already (each built with ``h``)."""
    head = "".join(f"<th>{h(x)}</th>" for x in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{h(empty)}</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def pairs(items: Mapping[str, Any], allowed: Iterable[str]) -> str:
    """Only the allow-listed keys (console.show_labels/show_annotations): anything else an
    alert carries (a label copied from a row) never reaches a page."""
    shown = [f'<span class="kv"><b>{h(k)}</b>={h(items[k])}</span>'
             for k in allowed if k in items]
    return " ".join(shown)


def hidden_csrf(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{h(csrf)}">'


def level(sev: str) -> str:
    return f'<span class="level {h(sev.lower())}">{h(sev)}</span>'


def page(title: str, body: str, *, session: Session | None = None, csrf: str = "",
         now: datetime | None = None, status: int = 200) -> web.Response:
    nav = ""
    if session is not None:
        nav = ('<nav><a href="/console/">Open</a> <a href="/console/history">History</a> '
               '<a href="/console/overview">Overview</a> '
               f'<span class="who">{h(session.user)} ({h(session.role)})</span>'
               '<form method="post" action="/console/logout" class="inline">'
               f'{hidden_csrf(csrf)}<button type="submit">Log out</button></form></nav>')
    stamp = f' data-now="{h(now.isoformat())}"' if now else ""
    text = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{h(title)} - vigil</title>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="stylesheet" href="/console/static/console.css">'
            '<script src="/console/static/console.js" defer></script></head>'
            f"<body{stamp}><header><h1>vigil</h1>{nav}</header>"
            f"<main><h2>{h(title)}</h2>{body}</main></body></html>")
    return web.Response(text=text, content_type="text/html", charset="utf-8", status=status)


def message(title: str, text: str, status: int, **kw: Any) -> web.Response:
    return page(title, f'<p class="message">{h(text)}</p>', status=status, **kw)
