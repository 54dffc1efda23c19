"""router.yml as a whole: its top-level keys, and ``load_config``, which loads it with the
escalation.yml and oncall.yml it names and cross-checks them together."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from router import netaddr as networks
from router.config.auth import Auth
from router.config.console import Console, ConsoleUser
from router.config.escalation import Escalation, load_escalation
from router.config.service import Database, Engine, Listen, Outbox, Retention, Webhook
from router.oncall.model import Oncall
from vigil.core.config import Seconds, build, load_yaml


@dataclasses.dataclass(frozen=True)
class RouterFile:
    database: Database
    auth: Auth
    escalation_file: str = "escalation.yml"
    # config/oncall.yml, relative to this file: the schedules escalation targets may name
    oncall_file: str | None = None
    # Factories, not shared instances: ruff can't see that these imported dataclasses are frozen.
    listen: Listen = dataclasses.field(default_factory=Listen)
    webhook: Webhook = dataclasses.field(default_factory=Webhook)
    engine: Engine = dataclasses.field(default_factory=Engine)
    outbox: Outbox = dataclasses.field(default_factory=Outbox)
    retention: Retention = dataclasses.field(default_factory=Retention)
    related_window: Seconds = 3600.0
    # Labels that relate nothing because every alert carries them with the same value (one
    # exporter, one Prometheus): `related` and `context` never match on these (nor on
    # alertname and severity, which are the alert's identity, not a shared resource).
    related_ignore_labels: tuple[str, ...] = ("job", "instance", "target")
    public_url: str = "http://127.0.0.1:18091"
    console: Console | None = None       # no section: no console, no ack links

    # The router's one Prometheus (router/prom.py): where `vigil alert context` reads the
    # alert's rule and metric history (/api/v1/rules, /api/v1/query_range) and the console's
    # overview its charts; None: the context and the overview say it is not configured.
    prometheus_url: str | None = None
    # Reverse proxies (CIDRs) whose X-Forwarded-For is believed: the client is then the
    # rightmost address not among them (router/netaddr.py). Empty: the socket's peer.
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.prometheus_url is not None and not self.prometheus_url.startswith(
                ("http://", "https://")):
            raise ValueError("prometheus_url must be an http:// or https:// URL")
        networks.parse(tuple(self.trusted_proxies))   # ValueError naming trusted_proxies[i]
        if self.console is not None:
            object.__setattr__(self, "console", _console_users(self.console, self.auth))


def _console_users(console: Console, auth: Auth) -> Console:
    """One list of people: the console's users are auth.users' entries with a password.
    console.users (from before auth.users) is still read, but not both at once."""
    if console.users and auth.users:
        raise ValueError("console.users and auth.users: list each person once, in auth.users "
                         "(password: the console, token: the API, role); move console.users "
                         "there")
    if console.users:
        return console
    people = {name: ConsoleUser(u.password, u.role) for name, u in auth.users.items()
              if u.password is not None}
    if not people:
        raise ValueError("console: at least one user with a password is required "
                         "(auth.users.NAME.password)")
    return dataclasses.replace(console, users=people)


@dataclasses.dataclass(frozen=True)
class Config:
    router: RouterFile
    escalation: Escalation
    source: str
    oncall: Oncall = dataclasses.field(default_factory=Oncall)


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Load router.yml and the escalation.yml and oncall.yml it names (relative to
    router.yml), cross-checked: every schedule a target names exists, every person's channel
    and every fallback target is defined in escalation.yml."""
    from router.oncall.load import check_against, load_oncall

    path = Path(path)
    router = build(RouterFile, load_yaml(path, env), str(path))
    esc_path = path.parent / router.escalation_file
    esc = load_escalation(esc_path, env)
    oncall = Oncall()
    if router.oncall_file is not None:
        oncall = load_oncall(path.parent / router.oncall_file, env)
    check_against(oncall, esc, str(esc_path))
    return Config(router=router, escalation=esc, source=str(path), oncall=oncall)
