"""config/oncall.yml: shape first (``vigil.core.config.build``), then meaning, every problem at
its YAML path, like router/config/.

``load_oncall`` checks the file alone (zones, times, people, overrides); ``check_against``
cross-checks it with escalation.yml (channels, fallback targets, the schedules targets
name), which ``router.config.load_config`` does for the router and ``vigil oncall`` for the
CLI.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.oncall.model import Oncall, Override, Person, PersonChannel, Rotation, Schedule
from router.oncall.resolve import handoff_instant
from vigil.core.config import build, load_yaml
from vigil.core.errors import ConfigError

if TYPE_CHECKING:
    from router.config import Escalation

Errors = list[tuple[str, str]]


# --- the file's shape -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Person:
    channels: tuple[PersonChannel, ...]
    description: str = ""


@dataclasses.dataclass(frozen=True)
class _Rotation:
    every: Literal["daily", "weekly"]
    handoff: Any                 # "HH:MM" (quoted: YAML reads 09:00 as a number)
    start: Any                   # a date: YAML gives a date object unquoted, a string quoted
    people: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _Override:
    who: str
    start: Any                   # local time in the schedule's zone, or with an offset
    end: Any
    note: str = ""


@dataclasses.dataclass(frozen=True)
class _Schedule:
    time_zone: str
    fallback: str
    rotation: _Rotation | None = None
    overrides: tuple[_Override, ...] = ()
    description: str = ""


@dataclasses.dataclass(frozen=True)
class _File:
    people: dict[str, _Person] = dataclasses.field(default_factory=dict)
    schedules: dict[str, _Schedule] = dataclasses.field(default_factory=dict)


# --- meaning --------------------------------------------------------------------------------

_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def _time(value: Any, path: str, errors: Errors) -> time | None:
    m = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        errors.append((path, 'expected a local time "HH:MM" in quotes (YAML reads an '
                             'unquoted 09:00 as a number)'))
        return None
    return time(int(m.group(1)), int(m.group(2)))


def _date(value: Any, path: str, errors: Errors) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors.append((path, "expected a date YYYY-MM-DD"))
        return None


def _instant(value: Any, zone: ZoneInfo, path: str, errors: Errors) -> datetime | None:
    """An override bound: with an offset as given, without one in the schedule's zone (by
    the same first-reading rule as hand-offs)."""
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        errors.append((path, "expected a date and time, e.g. 2026-03-08T09:00 (local to the "
                             "schedule's time_zone) or 2026-03-08T14:00Z"))
        return None
    if when.tzinfo is None:
        return handoff_instant(when.date(), when.time(), zone)
    return when.astimezone(UTC)


def _zone(name: str, path: str, errors: Errors) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append((path, f"unknown time zone {name!r}; use an IANA name such as "
                             "Europe/London or America/New_York"))
        return None


def _rotation(raw: _Rotation, path: str, people: Mapping[str, _Person],
              errors: Errors) -> Rotation | None:
    handoff = _time(raw.handoff, f"{path}.handoff", errors)
    start = _date(raw.start, f"{path}.start", errors)
    if not raw.people:
        errors.append((f"{path}.people", "empty people: name at least one person (a "
                                         "schedule with only overrides has no rotation)"))
    for i, who in enumerate(raw.people):
        if who not in people:
            errors.append((f"{path}.people[{i}]", f"unknown person {who!r}"))
    if handoff is None or start is None or not raw.people:
        return None
    return Rotation(1 if raw.every == "daily" else 7, handoff, start, raw.people)


def _overrides(raw: tuple[_Override, ...], zone: ZoneInfo, path: str,
               people: Mapping[str, _Person], errors: Errors) -> tuple[Override, ...]:
    out: list[tuple[int, Override]] = []
    for i, o in enumerate(raw):
        p = f"{path}[{i}]"
        if o.who not in people:
            errors.append((f"{p}.who", f"unknown person {o.who!r}"))
        start = _instant(o.start, zone, f"{p}.start", errors)
        end = _instant(o.end, zone, f"{p}.end", errors)
        if start is None or end is None:
            continue
        if end <= start:
            errors.append((f"{p}.end", "must be after start (an inverted or empty override)"))
            continue
        out.append((i, Override(o.who, start, end)))
    out.sort(key=lambda x: x[1].start)
    for (i, a), (j, b) in itertools.pairwise(out):
        if b.start < a.end:
            errors.append((f"{path}[{max(i, j)}]",
                           f"overlaps {path}[{min(i, j)}]: two overrides can't both win"))
    return tuple(o for _, o in out)


def check_oncall(raw: _File, source: str) -> Oncall:
    errors: Errors = []
    people: dict[str, Person] = {}
    for name, p in raw.people.items():
        if "/" in name:
            errors.append((f"people.{name}", "a person's name can't contain '/'"))
        if not p.channels:
            errors.append((f"people.{name}.channels", "at least one channel is required"))
        people[name] = Person(name, p.channels, p.description)
    schedules: dict[str, Schedule] = {}
    for name, s in raw.schedules.items():
        path = f"schedules.{name}"
        zone = _zone(s.time_zone, f"{path}.time_zone", errors)
        rotation = (None if s.rotation is None
                    else _rotation(s.rotation, f"{path}.rotation", raw.people, errors))
        if zone is None:
            continue
        overrides = _overrides(s.overrides, zone, f"{path}.overrides", raw.people, errors)
        schedules[name] = Schedule(name, zone, s.fallback, rotation, overrides, s.description)
    if errors:
        raise ConfigError(source, errors)
    return Oncall(MappingProxyType(people), MappingProxyType(schedules), source)


def build_oncall(data: Any, source: str) -> Oncall:
    """Parsed YAML to a checked ``Oncall``; raises ConfigError with every (path, problem)."""
    return check_oncall(build(_File, data, source), source)


def load_oncall(path: str | Path, env: Mapping[str, str] | None = None) -> Oncall:
    """Read and check config/oncall.yml on its own (``check_against`` adds escalation.yml)."""
    return build_oncall(load_yaml(path, env), str(path))


def check_against(oncall: Oncall, esc: Escalation, esc_source: str) -> None:
    """The cross-references between oncall.yml and escalation.yml; raises ConfigError."""
    errors: Errors = []
    for name, person in oncall.people.items():
        for i, pc in enumerate(person.channels):
            path = f"people.{name}.channels[{i}]"
            channel = esc.channels.get(pc.channel)
            if channel is None:
                errors.append((f"{path}.channel", f"unknown channel {pc.channel!r} "
                                                  "(channels are defined in escalation.yml)"))
            elif channel.type == "email" and not pc.to:
                errors.append((f"{path}.to", "an email channel needs addresses"))
    for name, s in oncall.schedules.items():
        target = esc.targets.get(s.fallback)
        if target is None or not target.channel:
            errors.append((f"schedules.{name}.fallback",
                           f"{s.fallback!r} is not a target with a channel in escalation.yml"))
    if errors:
        raise ConfigError(oncall.source, errors)
    bad = [(f"targets.{t}.schedule", f"unknown schedule {target.schedule!r}"
            + ("" if oncall.source else " (router.yml names no oncall_file)"))
           for t, target in esc.targets.items()
           if target.schedule and target.schedule not in oncall.schedules]
    if bad:
        raise ConfigError(esc_source, bad)
