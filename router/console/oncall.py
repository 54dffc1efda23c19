"""The "on call now / next" panel: for each schedule of config/oncall.yml, who is on call at
the router's now, since when, and who takes over at the next hand-off (router/oncall/,
``now_and_next``: daylight saving and overrides included). Nobody scheduled: the schedule's
fallback target is what a page reaches, and the panel says so."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from router.console.render import countdown, h, table, when
from router.keys import CONFIG
from router.oncall import OnCall, now_and_next


def _who(o: OnCall) -> str:
    if o.person is None:
        return h(f"nobody scheduled: pages the fallback {o.fallback}")
    return h(o.person) + (" (override)" if o.via == "override" else "")


def panel(app: web.Application, now: datetime) -> str:
    schedules = app[CONFIG].oncall.schedules
    rows = []
    for item in now_and_next(schedules, now):
        cur, nxt = item.now, item.next
        handoff = (h(when(cur.until)) + " " + countdown(cur.until, now)) if cur.until else \
            "no hand-off planned"
        rows.append([h(cur.schedule), _who(cur), _who(nxt) if nxt else "-", handoff])
    return ('<section class="oncall"><h3>On call now / next</h3>'
            + table(["schedule", "now", "next", "hand-off"], rows,
                    "no schedules configured") + "</section>")
