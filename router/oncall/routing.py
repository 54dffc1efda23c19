"""Schedule targets at delivery: who a page to ``schedule: primary`` reaches, as parameters
for the router's statements.

A target in escalation.yml that names a schedule has no channel of its own. When a step fires,
the engine resolves it with the router clock (``resolution``) and router/sql/fire.sql
replaces it by the on-call person's delivery targets (``alice/sink``, one per channel of
theirs) or by the schedule's fallback target, and writes who that was, from which schedule
and how (rotation, override, fallback) on the timeline and into the notification.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from router.oncall.model import Oncall
from router.oncall.resolve import on_call

if TYPE_CHECKING:
    from router.config import Escalation


def resolution(esc: Escalation, oncall: Oncall, at: datetime) -> dict[str, dict[str, Any]]:
    """Each schedule target -> ``{schedule, person, via, fallback?, deliver: [targets]}`` at
    ``at``: the ``oncall`` parameter of fire.sql."""
    out: dict[str, dict[str, Any]] = {}
    for name, target in esc.targets.items():
        if not target.schedule:
            continue
        now = on_call(oncall.schedules[target.schedule], at)
        entry: dict[str, Any] = {"schedule": now.schedule, "person": now.person, "via": now.via}
        if now.person is None:
            entry["fallback"] = now.fallback
            entry["deliver"] = [now.fallback]
        else:
            person = oncall.people[now.person]
            entry["deliver"] = [person.delivery_target(pc) for pc in person.channels]
        out[name] = entry
    return out


def expand(targets: Iterable[str], resolved: dict[str, dict[str, Any]]) -> list[str]:
    """Targets with each schedule target replaced by whom it reaches now (order kept, no
    duplicates): for statements that take a plain list (an incident's response)."""
    out: list[str] = []
    for t in targets:
        out.extend(resolved[t]["deliver"] if t in resolved else [t])
    return list(dict.fromkeys(out))


def channels(esc: Escalation, oncall: Oncall) -> dict[str, str]:
    """Every delivery target -> its channel: escalation.yml's targets with a channel and every
    person's ``name/channel``."""
    out = {t: target.channel for t, target in esc.targets.items() if target.channel}
    out.update({t: channel for t, (channel, _) in oncall.delivery_targets().items()})
    return out


def addresses(esc: Escalation, oncall: Oncall) -> dict[str, tuple[str, ...]]:
    """Every delivery target -> its addresses (``to``), for the outbox sender."""
    out = {t: target.to for t, target in esc.targets.items() if target.channel}
    out.update({t: to for t, (_, to) in oncall.delivery_targets().items()})
    return out
