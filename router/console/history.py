"""The history search: what fired and who handled it, by alert name, label, level, date and
who acted. Label search takes only allow-listed label names (console.show_labels): the
console must not become an oracle for values it would never show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from router import sql
from router.config import LEVELS
from router.console.render import h, level, page, pairs, table, when
from router.console.session import console_config, csrf_for, require
from router.keys import CLOCK, POOL

_HISTORY = sql.load("console_history")


class BadQuery(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _date(q: Any, field: str) -> datetime | None:
    raw = (q.get(field) or "").strip()
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise BadQuery(field, "expected a date as YYYY-MM-DD") from None


def parse(q: Any, allowed_labels: tuple[str, ...]) -> dict[str, Any]:
    """The statement's parameters from the query string; BadQuery names the field."""
    severity = (q.get("level") or "").strip() or None
    if severity and severity not in LEVELS:
        raise BadQuery("level", "use P1, P2, P3 or P4")
    labels = None
    raw = (q.get("label") or "").strip()
    if raw:
        name, sep, value = raw.partition("=")
        if not sep or not name:
            raise BadQuery("label", "use name=value")
        if name not in allowed_labels:
            raise BadQuery("label", f"{name!r} is not a label the console shows; "
                           f"searchable: {', '.join(allowed_labels)}")
        labels = Jsonb({name: value})
    until = _date(q, "to")
    return {"name": (q.get("name") or "").strip() or None, "severity": severity,
            "labels": labels, "since": _date(q, "from"),
            "until": until + timedelta(days=1) if until else None,
            "who": (q.get("who") or "").strip() or None, "limit": 200}


def _field(name: str, label: str, value: str, kind: str = "text") -> str:
    return (f'<label>{h(label)} <input type="{kind}" name="{h(name)}" '
            f'value="{h(value)}"></label>')


async def history(request: web.Request) -> web.Response:
    v = await require(request)
    cfg, q = console_config(request), request.query
    problem: BadQuery | None = None
    params: dict[str, Any] = {}
    try:
        params = parse(q, cfg.show_labels)
    except BadQuery as exc:
        problem = exc
    # A refused label search is not echoed back: its value may be the PHI it was after.
    label = "" if problem and problem.field == "label" else q.get("label", "")
    levels = "".join(f'<option value="{x}"{" selected" if q.get("level") == x else ""}>{x}'
                     "</option>" for x in LEVELS)
    form = ('<form method="get" action="/console/history" class="search">'
            + _field("name", "Alert name", q.get("name", ""))
            + _field("label", "Label (name=value)", label)
            + f'<label>Level <select name="level"><option value="">any</option>{levels}'
            "</select></label>"
            + _field("from", "From", q.get("from", ""), "date")
            + _field("to", "To", q.get("to", ""), "date")
            + _field("who", "Who acted", q.get("who", ""))
            + '<button type="submit">Search</button></form>')
    if problem is not None:
        body = form + f'<p class="error">{h(str(problem))}</p>'
        return page("History", body, session=v.session, csrf=csrf_for(request, v),
                    now=request.app[CLOCK].now(), status=400)
    async with request.app[POOL].connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_HISTORY, params)
        rows = await cur.fetchall()
    cells = [[f'<a href="/console/alerts/{r["id"]}">{h(r["alertname"])}</a>',
              level(r["severity"]), h(r["status"]), h(when(r["received_at"])),
              h(f"{r['acked_by'] or ''} {when(r['acked_at'])}".strip()),
              h(f"{r['resolved_by'] or ''} {when(r['resolved_at'])}".strip()),
              pairs(r["labels"], cfg.show_labels)] for r in rows]
    body = form + table(["alert", "level", "status", "received", "acknowledged",
                         "resolved", "labels"], cells, "no alert matches")
    return page("History", body, session=v.session, csrf=csrf_for(request, v),
                now=request.app[CLOCK].now())
