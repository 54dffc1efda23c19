"""The "on call now / next" panel.

On-call schedules (config/oncall.yml, issue #14.3) are not part of this router yet, so
``who_is_on_call`` answers nobody and the panel says "no schedules configured". When the
schedules module lands, this one function is the swap: return one ``OnCall`` per schedule.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from aiohttp import web

from router.console.render import h, table, when


@dataclasses.dataclass(frozen=True)
class OnCall:
    schedule: str
    now: str                     # the person on call now ("" when nobody is scheduled)
    next: str                    # who takes over at ``handoff``
    handoff: datetime | None


def who_is_on_call(app: web.Application, now: datetime) -> list[OnCall]:
    """Every schedule's person now and next: none until schedules exist."""
    return []


def panel(app: web.Application, now: datetime) -> str:
    rows = [[h(o.schedule), h(o.now or "nobody (fallback target)"), h(o.next),
             h(when(o.handoff))] for o in who_is_on_call(app, now)]
    return ('<section class="oncall"><h3>On call now / next</h3>'
            + table(["schedule", "now", "next", "hand-off"], rows,
                    "no schedules configured") + "</section>")
