"""On-call schedules as checked, frozen data (config/oncall.yml, loaded by router/oncall/load.py).

Times are already parsed here: a rotation's hand-off is a local wall-clock time in the
schedule's IANA zone, an override's bounds are UTC instants. Nothing in this module reads a
file or a clock; router/oncall/resolve.py answers "who is on call at T".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime, time
from types import MappingProxyType
from zoneinfo import ZoneInfo


@dataclasses.dataclass(frozen=True)
class PersonChannel:
    channel: str                      # a channel of escalation.yml
    to: tuple[str, ...] = ()          # addresses on it (email needs them)


@dataclasses.dataclass(frozen=True)
class Person:
    name: str
    channels: tuple[PersonChannel, ...]
    description: str = ""

    def delivery_target(self, pc: PersonChannel) -> str:
        """The outbox target of one of this person's channels: ``alice/sink``. One per
        channel, so a page to a person with two channels is two deliveries with their own
        idempotency keys, retries and back-off."""
        return f"{self.name}/{pc.channel}"


@dataclasses.dataclass(frozen=True)
class Rotation:
    every_days: int                   # 1 (daily) or 7 (weekly)
    handoff: time                     # local wall-clock time of each hand-off
    start: date                       # the first hand-off's date: people[0] takes over then
    people: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Override:
    who: str
    start: datetime                   # UTC, inclusive
    end: datetime                     # UTC, exclusive


@dataclasses.dataclass(frozen=True)
class Schedule:
    name: str
    zone: ZoneInfo
    fallback: str                     # an escalation.yml target paged when nobody is on call
    rotation: Rotation | None = None
    overrides: tuple[Override, ...] = ()   # sorted by start, never overlapping
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Oncall:
    people: Mapping[str, Person] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}))
    schedules: Mapping[str, Schedule] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}))
    source: str = ""

    def delivery_targets(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Every person's outbox targets: ``alice/sink`` -> (channel, addresses)."""
        return {p.delivery_target(pc): (pc.channel, pc.to)
                for p in self.people.values() for pc in p.channels}
