"""Hand-off notices: the incoming person hears they are on call, once per hand-off.

Each engine tick asks every schedule who is on call now (router/oncall/resolve.py). A stretch
that began at most ``window`` ago and has a person gets a notice through the outbox; the
stretch's start is the notice's identity: router/sql/handoff.sql inserts a
``vigil_router.handoffs`` row keyed (schedule, since) with ``ON CONFLICT DO NOTHING`` and
writes the outbox rows only for a row it inserted, in one statement. Two replicas ticking at
the same instant race on that key: one inserts, the other waits for its commit and does
nothing, so each hand-off is announced exactly once (and the outbox key, unique too, makes a
second write impossible anyway). The window keeps a fresh install or a router started
mid-shift from announcing a shift that began days ago; a router down for longer than the
window across a hand-off sends no notice for it (the person is still paged by every step).
Nobody scheduled (the fallback covers): no notice, the fallback target is paged per alert.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from router import sql
from router.oncall.model import Oncall
from router.oncall.resolve import on_call

_HANDOFF = sql.load("handoff")


def due_notices(oncall: Oncall, now: datetime, window: float) -> list[dict[str, Any]]:
    """The notices for stretches that began within ``window`` seconds before ``now``."""
    out: list[dict[str, Any]] = []
    for s in oncall.schedules.values():
        cur = on_call(s, now)
        if cur.person is None or cur.since is None:
            continue
        if now - cur.since > timedelta(seconds=window):
            continue
        person = oncall.people[cur.person]
        out.append({
            "schedule": s.name, "since": cur.since.isoformat(), "person": cur.person,
            "info": {"schedule": s.name, "description": s.description, "person": cur.person,
                     "via": cur.via, "since": cur.since.isoformat(),
                     "until": cur.until.isoformat() if cur.until else None},
            "targets": [{"target": person.delivery_target(pc), "channel": pc.channel}
                        for pc in person.channels]})
    return out


async def send(conn: AsyncConnection[Any], oncall: Oncall, now: datetime, window: float,
               seen: set[tuple[str, str]] | None = None) -> int:
    """Write the notices due now that no one wrote yet; returns how many hand-offs were
    announced by this call. ``seen`` (the caller's, kept across ticks) holds the hand-offs
    already settled, so a tick doesn't ask the database again for the rest of the window."""
    due = due_notices(oncall, now, window)
    if seen is not None:   # forget what is out of the window: the set stays small
        seen.intersection_update((n["schedule"], n["since"]) for n in due)
    notices = [n for n in due if seen is None or (n["schedule"], n["since"]) not in seen]
    if not notices:
        return 0
    cur = await conn.execute(_HANDOFF, {"now": now, "notices": json.dumps(notices)})
    row = await cur.fetchone()
    if seen is not None:   # committed (autocommit): announced by us or by another replica
        seen.update((n["schedule"], n["since"]) for n in notices)
    return int(row[0]) if row else 0
