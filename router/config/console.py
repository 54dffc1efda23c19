"""router.yml's ``console``: the web console (router/console/) and the ack links in
notifications. Its overview reads the router's one Prometheus, the top-level
``prometheus_url`` (router/config/load.py)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from router.config.auth import Role
from vigil.core.config import Seconds, Secret

ConsoleRole = Role     # the console's roles are the API users' (auth.users)
# What a console page may show of an alert: the labels and annotations vigil's own rules set
# (prometheus/rules/), none of which carries a value from the application's rows. A label a
# custom collector copies from a row (a patient id, a name) is hidden unless listed here.
SHOW_LABELS = ("alertname", "severity", "kind", "job", "instance", "target", "schema", "table",
               "operation", "state", "control")
SHOW_ANNOTATIONS = ("summary", "description", "runbook_url")


@dataclasses.dataclass(frozen=True)
class ConsoleUser:
    """Who may log in: the people of ``auth.users`` that have a password, or, in a config
    written before auth.users existed, ``console.users`` (still read)."""

    password: Secret
    role: ConsoleRole = "read-only"


@dataclasses.dataclass(frozen=True)
class LoginLimit:
    """Failed console logins allowed per window before further attempts get 429, counted in
    the router database so every replica shares them (router/console/throttle.py)."""

    per_user_and_address: int = 5   # per submitted user name (known or not) from one address
    per_user: int = 50              # per user name from everywhere: a distributed guess
    per_address: int = 20           # per client address, whatever names it tries
    window: Seconds = 900.0

    def __post_init__(self) -> None:
        if min(self.per_user_and_address, self.per_user, self.per_address) < 1 \
                or self.window <= 0:
            raise ValueError("console.login_limit: per_user_and_address, per_user and "
                             "per_address must be at least 1 and window positive")


@dataclasses.dataclass(frozen=True)
class Console:
    """The web console (router/console/) and the ack links in notifications."""

    # Signs session cookies, CSRF tokens and ack links (HMAC-SHA256, a purpose per use).
    secret: Secret
    # Empty: the people of auth.users with a password (router/config/load.py fills it in).
    users: dict[str, ConsoleUser] = dataclasses.field(default_factory=dict)
    session_ttl: Seconds = 12 * 3600.0
    ack_link_ttl: Seconds = 3600.0       # a notification's ack link works this long
    overview_window: Seconds = 6 * 3600.0
    show_labels: tuple[str, ...] = SHOW_LABELS
    show_annotations: tuple[str, ...] = SHOW_ANNOTATIONS
    login_limit: LoginLimit = LoginLimit()

    # One Prometheus URL for the whole router (vigil.core.config reports these at their path).
    RETIRED_FIELDS: ClassVar[dict[str, str]] = {
        "prometheus_url": "moved: set the top-level prometheus_url instead (the overview's "
                          "charts and `vigil alert context` read that one URL)"}

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise ValueError("console.secret must be at least 32 characters "
                             "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
        if self.ack_link_ttl <= 0 or self.session_ttl <= 0:
            raise ValueError("console.session_ttl and console.ack_link_ttl must be positive")
