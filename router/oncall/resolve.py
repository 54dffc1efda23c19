"""Who is on call at an instant: the resolver behind paging, hand-off notices and the CLI.

Pure functions of a ``Schedule`` and a UTC instant: no clock, no I/O, so the engine resolves
with the router clock at the moment a step fires and tests move that clock across
daylight-saving changes.

The rules (docs/runbook.md, "Who is paged"):

- A rotation hands off every 1 or 7 days at a local wall-clock time in the schedule's zone,
  starting with ``people[0]`` at the first hand-off (``start``); before it nobody is on call.
- A hand-off happens at the first instant the local clock reads the hand-off time or later.
  On a spring-forward day a time in the skipped hour (02:30 in New York on 2026-03-08) is
  never read: the hand-off is at the jump (03:00 EDT). On a fall-back day a time read twice
  (01:30 in New York on 2026-11-01) hands off at its first reading (01:30 EDT). So the shift
  around a change is an hour shorter or longer, and the next hand-off is back on time.
- An override wins over the rotation for [start, end).
- Nobody scheduled (no rotation, before its start, outside every override): the schedule's
  fallback target is paged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from router.oncall.model import Rotation, Schedule

Via = Literal["rotation", "override", "fallback"]

_EPS = timedelta(microseconds=1)
# How many adjacent stretches with the same person are merged into one (a one-person
# rotation hands off to the same person forever): bounds the work, not the answer's meaning.
_MERGE = 100


@dataclasses.dataclass(frozen=True)
class OnCall:
    """One stretch of a schedule: who is on call from ``since`` until ``until``."""
    schedule: str
    person: str | None             # None: nobody is scheduled, the fallback is paged
    via: Via
    fallback: str                  # the schedule's fallback target
    since: datetime | None         # None: since always (no earlier change)
    until: datetime | None         # None: no later change

    @property
    def pages(self) -> str:
        """What a page to this schedule reaches now: the person, or the fallback target."""
        return self.person if self.person is not None else self.fallback

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready (``vigil oncall --json``, the console)."""
        return {"schedule": self.schedule, "person": self.person, "via": self.via,
                "pages": self.pages,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None}


def handoff_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock in ``zone`` reads ``at`` on ``day``,
    or later: the moment of the jump when ``at`` falls in a skipped hour."""
    naive = datetime.combine(day, at)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first               # exists (fold=0: the first of two readings)
    # In a gap fold=0 reads the time with the offset before the change (too late) and fold=1
    # with the offset after it (too early): the jump lies between. Bisect to the second.
    lo = int(naive.replace(tzinfo=zone, fold=1).timestamp())
    hi = int(first.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def shift_start(rot: Rotation, zone: ZoneInfo, index: int) -> datetime:
    """When shift ``index`` (0 = the first, ``people[0]``) begins."""
    return handoff_instant(rot.start + timedelta(days=index * rot.every_days), rot.handoff, zone)


def shift_index(rot: Rotation, zone: ZoneInfo, at: datetime) -> int:
    """The shift running at ``at``; negative before the first hand-off."""
    days = (at.astimezone(zone).date() - rot.start).days
    i = days // rot.every_days
    if shift_start(rot, zone, i) > at:
        i -= 1                     # today's hand-off has not happened yet
    elif shift_start(rot, zone, i + 1) <= at:
        i += 1
    return i


@dataclasses.dataclass(frozen=True)
class _Segment:
    person: str | None
    via: Via
    since: datetime | None
    until: datetime | None


def _segment(s: Schedule, at: datetime) -> _Segment:
    """The stretch between the nearest boundaries (hand-offs, override bounds) around ``at``."""
    before: list[datetime] = []
    after: list[datetime] = []
    person: str | None = None
    via: Via = "fallback"
    if s.rotation is not None:
        i = shift_index(s.rotation, s.zone, at)
        if i >= 0:
            person, via = s.rotation.people[i % len(s.rotation.people)], "rotation"
            before.append(shift_start(s.rotation, s.zone, i))
        after.append(shift_start(s.rotation, s.zone, max(i + 1, 0)))
    for o in s.overrides:
        if o.start <= at < o.end:
            person, via = o.who, "override"
        for b in (o.start, o.end):
            (before if b <= at else after).append(b)
    return _Segment(person, via, max(before, default=None), min(after, default=None))


def on_call(s: Schedule, at: datetime) -> OnCall:
    """Who is on call in ``s`` at ``at``, with the whole stretch that person covers
    (adjacent shifts of the same person are one stretch: no hand-off between them)."""
    seg = _segment(s, at)
    since, until = seg.since, seg.until
    for _ in range(_MERGE):
        if since is None:
            break
        prev = _segment(s, since - _EPS)
        if prev.person != seg.person:
            break
        since = prev.since
    else:
        since = None               # no change within the horizon: "since always"
    for _ in range(_MERGE):
        if until is None:
            break
        nxt = _segment(s, until)
        if nxt.person != seg.person:
            break
        until = nxt.until
    else:
        until = None               # no change within the horizon: nobody takes over
    return OnCall(s.name, seg.person, seg.via, s.fallback, since, until)


@dataclasses.dataclass(frozen=True)
class NowNext:
    now: OnCall
    next: OnCall | None


def now_and_next(schedules: Mapping[str, Schedule] | Iterable[Schedule],
                 at: datetime) -> list[NowNext]:
    """For each schedule (in order): who is on call at ``at`` and who takes over next.
    The console's "on call now / next" panel and ``vigil oncall`` read this."""
    items = schedules.values() if isinstance(schedules, Mapping) else schedules
    out = []
    for s in items:
        now = on_call(s, at)
        out.append(NowNext(now, on_call(s, now.until) if now.until is not None else None))
    return out
