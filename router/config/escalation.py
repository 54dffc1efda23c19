"""escalation.yml: who is paged, how, and when, for each of P1-P4.

Shape first (``vigil.core.config.build``), then meaning: ``check_escalation`` cross-checks
every level defined, every step naming a known target, every target bound to a known
channel. A typo fails here, with its YAML path, not at 3 a.m. when a P1 tries to escalate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from vigil.core import secrets
from vigil.core.config import Seconds, Secret, build, load_yaml
from vigil.core.errors import ConfigError

LEVELS: tuple[str, ...] = ("P1", "P2", "P3", "P4")
# 2 x the level's Alertmanager repeat_interval (prometheus/alertmanager.yml: 15m, 1h, 4h, 24h)
# plus a margin, so one lost re-send never resolves a firing alert (docs/escalation.md).
DEFAULT_STALE_AFTER: dict[str, float] = {"P1": 35 * 60.0, "P2": 2.25 * 3600, "P3": 8.5 * 3600,
                                         "P4": 2 * 86400.0}
# Second responders who must approve a containment before it runs (issue #12): P1 needs one.
DEFAULT_CONTAINMENT_APPROVALS: dict[str, int] = {"P1": 1, "P2": 0, "P3": 0, "P4": 0}
ChannelType = Literal["webhook", "slack", "email", "file", "log", "pagerduty"]


@dataclasses.dataclass(frozen=True)
class Severity:
    label: str = "severity"
    default: str = "P3"
    mapping: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Channel:
    type: ChannelType
    url: str | None = None               # webhook, slack, pagerduty (events API URL)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    timeout: Seconds = 10.0
    path: str | None = None              # file
    routing_key: Secret | None = None    # pagerduty
    smtp_host: str | None = None         # email
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: Secret | None = None
    sender: str | None = None

    def __post_init__(self) -> None:
        # A Slack incoming-webhook URL is itself the credential, and webhook headers often
        # carry one: register them so no log line or error can ever show them.
        if self.url and (self.type == "slack" or "@" in self.url or "?" in self.url):
            secrets.register(self.url)
        for name, value in self.headers.items():
            if any(w in name.lower() for w in ("auth", "token", "key", "secret", "cookie")):
                secrets.register(value)


@dataclasses.dataclass(frozen=True)
class Target:
    channel: str = ""                    # a fixed recipient: this channel ...
    to: tuple[str, ...] = ()             # ... with these addresses (email; free-form for others)
    description: str = ""
    # ... or whoever is on call in this oncall.yml schedule when the step fires
    # (router/oncall/); exactly one of channel and schedule.
    schedule: str = ""


@dataclasses.dataclass(frozen=True)
class Step:
    delay: Seconds
    targets: tuple[str, ...]
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Repeat:
    times: int = 0
    interval: Seconds = 0.0

    def __post_init__(self) -> None:
        if self.times < 0:
            raise ValueError("repeat.times must not be negative")
        if self.times and self.interval <= 0:
            raise ValueError("repeat.interval must be positive when repeat.times > 0")


@dataclasses.dataclass(frozen=True)
class Level:
    response_time: Seconds
    steps: tuple[Step, ...]
    description: str = ""
    repeat: Repeat = Repeat()
    notices: tuple[Step, ...] = ()
    notify_on_resolve: bool = True
    # Resolve an open or acked alert Alertmanager has not re-sent for this long (it re-sends
    # every still-firing alert each repeat_interval); None: DEFAULT_STALE_AFTER[level].
    stale_after: Seconds | None = None
    # Approvals by responders other than the requester before `vigil incident contain` runs;
    # None: DEFAULT_CONTAINMENT_APPROVALS[level].
    containment_approvals: int | None = None

    def approvals(self, level: str) -> int:
        if self.containment_approvals is not None:
            return self.containment_approvals
        return DEFAULT_CONTAINMENT_APPROVALS.get(level, 0)


@dataclasses.dataclass(frozen=True)
class Escalation:
    channels: dict[str, Channel]
    targets: dict[str, Target]
    levels: dict[str, Level]
    severity: Severity = Severity()


def check_escalation(esc: Escalation, source: str) -> Escalation:
    """Cross-reference checks; raises ConfigError with every (path, problem)."""
    errors: list[tuple[str, str]] = []
    for name in LEVELS:
        if name not in esc.levels:
            errors.append((f"levels.{name}", "level missing: the runbook defines P1-P4"))
    for name in esc.levels:
        if name not in LEVELS:
            errors.append((f"levels.{name}", f"unknown level; use one of {', '.join(LEVELS)}"))
    for name, target in esc.targets.items():
        if bool(target.channel) == bool(target.schedule):
            errors.append((f"targets.{name}",
                           "give exactly one of channel (a fixed recipient) and schedule "
                           "(whoever is on call, config/oncall.yml)"))
        elif target.schedule and target.to:
            errors.append((f"targets.{name}.to",
                           "a schedule target is addressed by the person on call's channels"))
        elif target.channel and target.channel not in esc.channels:
            errors.append((f"targets.{name}.channel",
                           f"unknown channel {target.channel!r} for target {name!r}"))
    for name, ch in esc.channels.items():
        need = {"webhook": ("url",), "slack": ("url",), "email": ("smtp_host", "sender"),
                "file": ("path",), "pagerduty": ("routing_key",), "log": ()}[ch.type]
        for field in need:
            if not getattr(ch, field):
                errors.append((f"channels.{name}.{field}",
                               f"required for a {ch.type} channel"))
        if ch.type == "email":
            for tname, target in esc.targets.items():
                if target.channel == name and not target.to:
                    errors.append((f"targets.{tname}.to", "an email target needs addresses"))
    for lname, level in esc.levels.items():
        if not level.steps:
            errors.append((f"levels.{lname}.steps", "at least one step is required"))
        last = -1.0
        for i, step in enumerate(level.steps):
            if step.delay < last:
                errors.append((f"levels.{lname}.steps[{i}].delay",
                               "steps must be in order of delay"))
            last = step.delay
        if level.stale_after is not None and level.stale_after <= 0:
            errors.append((f"levels.{lname}.stale_after",
                           "must be positive: longer than Alertmanager's repeat_interval "
                           "for this level"))
        if level.containment_approvals is not None and not 0 <= level.containment_approvals <= 5:
            errors.append((f"levels.{lname}.containment_approvals",
                           "must be 0 to 5 second responders"))
        for kind, steps in (("steps", level.steps), ("notices", level.notices)):
            for i, step in enumerate(steps):
                if not step.targets:
                    errors.append((f"levels.{lname}.{kind}[{i}].targets",
                                   "at least one target is required"))
                for j, t in enumerate(step.targets):
                    if t not in esc.targets:
                        errors.append((f"levels.{lname}.{kind}[{i}].targets[{j}]",
                                       f"unknown target {t!r}"))
    sev = esc.severity
    if sev.default not in LEVELS:
        errors.append(("severity.default", f"must be one of {', '.join(LEVELS)}"))
    for key, value in sev.mapping.items():
        if value not in LEVELS:
            errors.append((f"severity.mapping.{key}",
                           f"maps to {value!r}; use one of {', '.join(LEVELS)}"))
    if errors:
        raise ConfigError(source, errors)
    return esc


def load_escalation(path: str | Path, env: Mapping[str, str] | None = None) -> Escalation:
    return check_escalation(build(Escalation, load_yaml(path, env), str(path)), str(path))
