"""router.yml and escalation.yml: shape first (``vigil.core.config.build``), then meaning.

``load_config`` returns a frozen ``Config`` whose ``escalation`` has already been
cross-checked: every level defined, every step naming a known target, every
target bound to a known channel. A typo fails here, with its YAML path, not
at 3 a.m. when a P1 tries to escalate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from router.oncall.model import Oncall
from vigil.core import listen, secrets
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


# --- escalation.yml -------------------------------------------------------------------------

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


# --- router.yml -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 18091


def parse_listen_address(address: str) -> Listen:
    """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces), as ``vigil exporter``'s
    ``--web.listen-address`` takes it (vigil.core.listen)."""
    return Listen(*listen.parse(address))


@dataclasses.dataclass(frozen=True)
class Database:
    dsn: Secret
    pool_min: int = 2
    pool_max: int = 10
    connect_timeout: Seconds = 5.0
    pool_timeout: Seconds = 5.0          # waiting for a connection: then 503
    statement_timeout: Seconds = 10.0    # server side: a slow query
    # Client side (router/health.py): one unit of database work (a request's queries, a
    # tick's statement, a claim) is abandoned after op_timeout, whatever the network does.
    op_timeout: Seconds = 12.0
    # libpq: a peer that stops ACKing is dead after tcp_user_timeout; an idle connection is
    # probed after keepalives_idle (then every third of it, three times).
    tcp_user_timeout: Seconds = 10.0
    keepalives_idle: Seconds = 10.0
    reconnect_timeout: Seconds = 300.0   # the pool's: then it gives up a slot and retries later


@dataclasses.dataclass(frozen=True)
class BasicAuth:
    username: str
    password: Secret


@dataclasses.dataclass(frozen=True)
class Auth:
    bearer_token: Secret | None = None
    basic: BasicAuth | None = None
    insecure_no_auth: bool = False       # for local experiments only

    def __post_init__(self) -> None:
        if not (self.bearer_token or self.basic or self.insecure_no_auth):
            raise ValueError("set auth.bearer_token and/or auth.basic "
                             "(or insecure_no_auth: true for local experiments)")


@dataclasses.dataclass(frozen=True)
class Webhook:
    max_body_bytes: int = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Engine:
    tick_interval: Seconds = 0.5
    batch_size: int = 1000
    # /-/ready answers 503 once the engine or the outbox sender has not succeeded for this
    # long (a frozen connection, an outage), not only when a fresh connection fails.
    stall_after: Seconds = 4.0
    # An on-call hand-off is announced by a tick at most this long after it: a router started
    # mid-shift doesn't announce a shift that began days ago (router/oncall/handoff.py).
    handoff_notice_window: Seconds = 3600.0


@dataclasses.dataclass(frozen=True)
class Outbox:
    poll_interval: Seconds = 0.5         # longest wait for new work when nothing wakes us
    concurrency: int = 64                # deliveries in flight
    per_target_concurrency: int = 16     # of which one target may hold at most this many
    max_attempts: int = 8
    backoff_initial: Seconds = 1.0
    backoff_max: Seconds = 300.0
    lease: Seconds = 60.0                # a claimed delivery is retried after this if we die


@dataclasses.dataclass(frozen=True)
class Retention:
    raw_payloads: Seconds = 7 * 86400.0
    max_raw_payloads: int = 100_000


ConsoleRole = Literal["read-only", "responder"]
# What a console page may show of an alert: the labels and annotations vigil's own rules set
# (prometheus/rules/), none of which carries a value from the application's rows. A label a
# custom collector copies from a row (a patient id, a name) is hidden unless listed here.
SHOW_LABELS = ("alertname", "severity", "kind", "job", "instance", "target", "schema", "table",
               "operation", "state", "control")
SHOW_ANNOTATIONS = ("summary", "description", "runbook_url")


@dataclasses.dataclass(frozen=True)
class ConsoleUser:
    password: Secret
    role: ConsoleRole = "read-only"


@dataclasses.dataclass(frozen=True)
class LoginLimit:
    """Failed console logins allowed per window before further attempts get 429, counted in
    the router database so every replica shares them (router/console/throttle.py)."""

    per_user: int = 5          # per submitted user name, known or not
    per_address: int = 20      # per client address, whatever names it tries
    window: Seconds = 900.0

    def __post_init__(self) -> None:
        if self.per_user < 1 or self.per_address < 1 or self.window <= 0:
            raise ValueError("console.login_limit: per_user and per_address must be at "
                             "least 1 and window positive")


@dataclasses.dataclass(frozen=True)
class Console:
    """The web console (router/console/) and the ack links in notifications."""

    # Signs session cookies, CSRF tokens and ack links (HMAC-SHA256, a purpose per use).
    secret: Secret
    users: dict[str, ConsoleUser]
    prometheus_url: str | None = None    # the overview page's source; None: no charts
    session_ttl: Seconds = 12 * 3600.0
    ack_link_ttl: Seconds = 3600.0       # a notification's ack link works this long
    overview_window: Seconds = 6 * 3600.0
    show_labels: tuple[str, ...] = SHOW_LABELS
    show_annotations: tuple[str, ...] = SHOW_ANNOTATIONS
    login_limit: LoginLimit = LoginLimit()

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise ValueError("console.secret must be at least 32 characters "
                             "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
        if not self.users:
            raise ValueError("console.users: at least one user is required")
        if self.prometheus_url and not self.prometheus_url.startswith(("http://", "https://")):
            raise ValueError("console.prometheus_url must be an http:// or https:// URL")
        if self.ack_link_ttl <= 0 or self.session_ttl <= 0:
            raise ValueError("console.session_ttl and console.ack_link_ttl must be positive")


@dataclasses.dataclass(frozen=True)
class RouterFile:
    database: Database
    auth: Auth
    escalation_file: str = "escalation.yml"
    # config/oncall.yml, relative to this file: the schedules escalation targets may name
    oncall_file: str | None = None
    listen: Listen = Listen()
    webhook: Webhook = Webhook()
    engine: Engine = Engine()
    outbox: Outbox = Outbox()
    retention: Retention = Retention()
    related_window: Seconds = 3600.0
    # Labels that relate nothing because every alert carries them with the same value (one
    # exporter, one Prometheus): `related` and `context` never match on these (nor on
    # alertname and severity, which are the alert's identity, not a shared resource).
    related_ignore_labels: tuple[str, ...] = ("job", "instance", "target")
    public_url: str = "http://127.0.0.1:18091"
    console: Console | None = None       # no section: no console, no ack links

    # Where `vigil alert context` reads the alert's rule and metric history (Prometheus
    # /api/v1/rules and /api/v1/query_range); None: the context says it is not configured.
    prometheus_url: str | None = None

    def __post_init__(self) -> None:
        if self.prometheus_url is not None and not self.prometheus_url.startswith(
                ("http://", "https://")):
            raise ValueError("prometheus_url must be an http:// or https:// URL")


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
