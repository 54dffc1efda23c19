"""What the stack is made of: folders, ports, secrets, each part's command and login.

The configs each part reads are derived from the project's own (vigil/stack/derive.py).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from vigil.core import pg

PROMETHEUS_BIN = "/usr/bin/prometheus"
ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager"

ROUTER_DB = "vigil_router"


def repo_root() -> Path:
    """The checkout vigil runs from (``prometheus/`` and ``config/`` live there)."""
    return Path(__file__).resolve().parents[2]


# Where each part listens unless told otherwise: vigil's own parts on 18090-18093, Prometheus
# and Alertmanager on their usual ports. These are the ports the project's configs name, so a
# stack on other ports gets derived configs with them rewritten (``Ports.rewrites``).
DEFAULT_PORTS: Mapping[str, int] = MappingProxyType({
    "exporter": 18090, "router": 18091, "sink": 18092, "reporter": 18093,
    "prometheus": 9090, "alertmanager": 9093})


@dataclasses.dataclass(frozen=True)
class Ports:
    """The port of each part: ``Ports.of(router=4444)`` is the defaults with the router moved."""

    exporter: int
    router: int
    sink: int
    reporter: int
    prometheus: int
    alertmanager: int

    @classmethod
    def of(cls, **moved: int) -> Ports:
        return cls(**{**DEFAULT_PORTS, **moved})

    def rewrites(self) -> dict[int, int]:
        """Default port -> actual port, for the ones that differ."""
        return {DEFAULT_PORTS[name]: port for name, port in dataclasses.asdict(self).items()
                if port != DEFAULT_PORTS[name]}


class _InState:
    """A path in the state folder, by name: ``layout.logs`` is ``layout.state / "logs"``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, layout: Layout, owner: type[Layout] | None = None) -> Path:
        return layout.state / self.name


@dataclasses.dataclass(frozen=True)
class Layout:
    """The state folder: everything ``vigil up`` writes goes under ``state``."""

    root: Path
    state: Path

    run = _InState("run")
    logs = _InState("logs")
    generated = _InState("config")
    data = _InState("data")
    token_file = _InState("router-token")
    # The name vigil.audit.keys.demo_key_file() falls back to, so `vigil demo inject
    # audit-tamper` and `vigil audit verify` find the stack's key without flags.
    audit_key_file = _InState("audit.key")
    audit_checkpoint_file = _InState("audit-checkpoint")
    stack_file = _InState("stack.json")

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def default_layout(state: Path | None = None) -> Layout:
    root = repo_root()
    env_state = os.environ.get("VIGIL_STATE_DIR")
    chosen = state or (Path(env_state) if env_state else root / ".vigil")
    return Layout(root=root, state=chosen.resolve())


@dataclasses.dataclass(frozen=True)
class Service:
    """One long-running part."""

    name: str
    title: str
    argv: tuple[str, ...]
    health_url: str | None          # None: alive process is healthy (the workload)
    url: str | None                 # what to print for people
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    missing: str | None = None      # why it cannot run (part not built yet, no binary)


@dataclasses.dataclass(frozen=True)
class Task:
    """A one-shot step that must succeed before services start (schema, demo DB)."""

    name: str
    title: str
    argv: tuple[str, ...]
    missing: str | None = None


def vigil_cmd(*args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "vigil.cli", *args)


def _ensure_secret(path: Path, make: Callable[[], str]) -> str:
    """A secret made once and kept in the state folder, mode 0600 (never printed)."""
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def ensure_token(layout: Layout) -> str:
    """The router's bearer token: made once, kept in the state folder (mode 0600)."""
    return _ensure_secret(layout.token_file, lambda: secrets.token_urlsafe(32))


def ensure_console(layout: Layout) -> dict[str, str]:
    """The console's signing secret and its users' passwords, made once and kept in the state
    folder (mode 0600: ``console-responder-password`` is what you log in with), as the
    environment STACK_CONSOLE names."""
    def secret(name: str, size: int) -> str:
        return _ensure_secret(layout.state / name, lambda: secrets.token_urlsafe(size))
    return {"VIGIL_CONSOLE_SECRET": secret("console-secret", 32),
            "VIGIL_CONSOLE_RESPONDER_PASSWORD": secret("console-responder-password", 12),
            "VIGIL_CONSOLE_VIEWER_PASSWORD": secret("console-viewer-password", 12)}


def ensure_audit_key(layout: Layout) -> Path:
    """The sealer's HMAC key (256 random bits, hex): made once, kept in the state folder
    (mode 0600), handed to ``vigil audit seal --key-file`` by path, never on a command line.
    Losing it means the chain sealed so far can no longer be verified: back it up."""
    from vigil.audit.keys import ensure_key_file

    ensure_key_file(layout.audit_key_file)
    return layout.audit_key_file


def module_missing(module: str, what: str) -> str | None:
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    return None if found else f"{what} is not built yet (no module {module})"


def sealer_argv(dsn: str, key_file: Path, checkpoint_file: Path) -> tuple[str, ...]:
    """``vigil audit seal`` as the stack (and the live test stack) runs it (issue #16)."""
    return vigil_cmd("audit", "seal", "--dsn", dsn, "--key-file", str(key_file),
                     "--checkpoint-file", str(checkpoint_file))


def maintainer_argv(dsn: str) -> tuple[str, ...]:
    """``vigil db maintain``, long-lived (issue #16)."""
    return vigil_cmd("db", "maintain", "--dsn", dsn)


def reporter_argv(store: Path, prometheus_url: str, listen: str) -> tuple[str, ...]:
    """``vigil report schedule`` (issue #13): the daily report at 00:15 UTC, the hourly
    ``vigil metrics verify``, and their status on ``/metrics`` (job vigil-report). The
    databases come from the environment the stack sets for every part (VIGIL_ADMIN_DSN ->
    the demo database, VIGIL_ROUTER_DSN), so no DSN is on a command line."""
    return vigil_cmd("report", "schedule", "--store", str(store), "--prometheus-url",
                     prometheus_url, "--listen", listen)


def file_missing(path: Path, what: str) -> str | None:
    return None if path.is_file() else f"{what}: {path} does not exist yet"


def binary_missing(path: str, package: str) -> str | None:
    if Path(path).is_file() and os.access(path, os.X_OK):
        return None
    if shutil.which(Path(path).name):
        return None
    return f"{path} not found: install the Debian package {package} (scripts/bootstrap.sh does)"


def demo_dsn(admin: str | None = None, db: str | None = None) -> str:
    return pg.demo_dsn(admin, db)   # db None: VIGIL_DEMO_DB, else the demo's default


def exporter_dsn(admin: str | None = None, db: str = pg.DEFAULT_DEMO_DB) -> str | None:
    """The exporter's least-privileged login on the demo database (never the superuser)."""
    try:
        from vigil.demo import app
    except ImportError:
        return None
    return app.info(admin or pg.admin_dsn(), db).exporter_dsn


def sealer_dsn(admin: str | None = None, db: str = pg.DEFAULT_DEMO_DB) -> str:
    """The sealer's own login on the demo database: it can chain the buffer, nothing more."""
    from vigil.demo.app import role_dsn
    from vigil.schema.contract import DEFAULT_SEALER_ROLE

    return role_dsn(demo_dsn(admin, db), DEFAULT_SEALER_ROLE)


def maintainer_dsn(admin: str | None = None, db: str = pg.DEFAULT_DEMO_DB) -> str:
    """The maintainer's own login: EXECUTE on the maintenance functions, no table rights."""
    from vigil.demo.app import role_dsn
    from vigil.schema.contract import DEFAULT_MAINTAINER_ROLE

    return role_dsn(demo_dsn(admin, db), DEFAULT_MAINTAINER_ROLE)


def router_dsn(admin: str | None = None, db: str = ROUTER_DB) -> str:
    return pg.with_dbname(admin or pg.admin_dsn(), db)
