"""router.yml and escalation.yml: shape first (``vigil.core.config.build``), then meaning.

``load_config`` returns a frozen ``Config`` whose ``escalation`` has already been
cross-checked: every level defined, every step naming a known target, every
target bound to a known channel. A typo fails here, with its YAML path, not
at 3 a.m. when a P1 tries to escalate.

One module per concern, and this package's names are the way to import them:

- ``escalation``: escalation.yml (levels, steps, targets, channels) and its cross-checks;
- ``load``: router.yml's top level (``RouterFile``: files, windows, ``prometheus_url``) and
  ``load_config``;
- ``service``: how the router runs (listen, database, webhook, engine, outbox, retention);
- ``auth``: the API's shared bearer token and basic auth, and the people (``users``: a token
  for the API, a password for the console, a role);
- ``console``: the web console and the ack links.
"""

from router.config.auth import MIN_TOKEN, Auth, BasicAuth, Role, User
from router.config.console import (
    SHOW_ANNOTATIONS,
    SHOW_LABELS,
    Console,
    ConsoleRole,
    ConsoleUser,
    LoginLimit,
)
from router.config.escalation import (
    DEFAULT_CONTAINMENT_APPROVALS,
    DEFAULT_STALE_AFTER,
    LEVELS,
    Channel,
    ChannelType,
    Escalation,
    Level,
    Repeat,
    Severity,
    Step,
    Target,
    check_escalation,
    load_escalation,
)
from router.config.load import Config, RouterFile, load_config
from router.config.service import (
    Database,
    Engine,
    Listen,
    Outbox,
    Retention,
    Webhook,
    parse_listen_address,
)

__all__ = [
    "DEFAULT_CONTAINMENT_APPROVALS", "DEFAULT_STALE_AFTER", "LEVELS", "MIN_TOKEN",
    "SHOW_ANNOTATIONS",
    "SHOW_LABELS", "Auth", "BasicAuth", "Channel", "ChannelType", "Config", "Console",
    "ConsoleRole", "ConsoleUser", "Database", "Engine", "Escalation", "Level", "Listen",
    "LoginLimit", "Outbox", "Repeat", "Retention", "Role", "RouterFile", "Severity", "Step",
    "Target", "User", "Webhook", "check_escalation", "load_config", "load_escalation",
    "parse_listen_address",
]
