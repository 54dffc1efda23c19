"""What the stack is made of: folders, ports, derived configs and each part's command.

The project's own configs (``prometheus/``, ``config/``) are the source of
truth. Where the native stack needs something different (absolute rule paths,
the token file, other ports), a *derived copy* is generated here into the
state folder, programmatically, from the original on every ``vigil up``: no
hand-copied config can drift.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

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


# The stack's router serves the console (router/console/, docs/console.md), where no Grafana
# runs: two users, the overview reading the stack's Prometheus (the router's top-level
# prometheus_url, set by derive_router). The values come from the environment
# (``ensure_console``), never written into the generated router.yml.
STACK_CONSOLE: dict[str, Any] = {
    "secret": "${VIGIL_CONSOLE_SECRET}",
    "users": {"responder": {"password": "${VIGIL_CONSOLE_RESPONDER_PASSWORD}",
                            "role": "responder"},
              "viewer": {"password": "${VIGIL_CONSOLE_VIEWER_PASSWORD}", "role": "read-only"}},
}


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


# --- derived configs --------------------------------------------------------------------------

_HOSTPORT = re.compile(r"\b(127\.0\.0\.1|localhost):(\d+)\b")


def rewrite_ports(data: Any, mapping: Mapping[int, int]) -> Any:
    """Every ``127.0.0.1:PORT`` / ``localhost:PORT`` string with a mapped port, moved."""
    if not mapping:
        return data
    if isinstance(data, str):
        def repl(m: re.Match[str]) -> str:
            port = int(m.group(2))
            return f"{m.group(1)}:{mapping.get(port, port)}"
        return _HOSTPORT.sub(repl, data)
    if isinstance(data, list):
        return [rewrite_ports(v, mapping) for v in data]
    if isinstance(data, dict):
        return {k: rewrite_ports(v, mapping) for k, v in data.items()}
    return data


def _write_yaml(path: Path, data: Any, source: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# GENERATED by `vigil up` from {source} -- do not edit; edit the source.\n")
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path


def _absolute(base: Path, value: str) -> str:
    return value if os.path.isabs(value) else str((base / value).resolve())


def derive_prometheus(source: Path, dest: Path, ports: Ports,
                      rule_files: list[str] | None = None,
                      overrides: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """prometheus.yml with absolute rule paths (or ``rule_files``) and the stack's ports."""
    data = yaml.safe_load(source.read_text()) or {}
    data = rewrite_ports(data, ports.rewrites())
    if rule_files is not None:
        data["rule_files"] = list(rule_files)
    else:
        data["rule_files"] = [_absolute(source.parent, r) for r in data.get("rule_files") or []]
    for sc in data.get("scrape_configs") or []:
        for key in ("file_sd_configs",):
            for sd in sc.get(key) or []:
                sd["files"] = [_absolute(source.parent, f) for f in sd.get("files") or []]
        _absolutize_credentials(sc, source.parent)
    if overrides is not None:
        overrides(data)
    return _write_yaml(dest, data, source)


def _absolutize_credentials(node: Any, base: Path, token_file: Path | None = None) -> None:
    """``credentials_file`` / ``*_file`` keys: the stack's token, or an absolute path."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if key == "credentials_file" and token_file is not None:
                node[key] = str(token_file)
            elif key.endswith("_file") and isinstance(value, str):
                node[key] = _absolute(base, value)
            else:
                _absolutize_credentials(value, base, token_file)
    elif isinstance(node, list):
        for item in node:
            _absolutize_credentials(item, base, token_file)


def derive_alertmanager(source: Path, dest: Path, ports: Ports, token_file: Path,
                        overrides: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """alertmanager.yml pointing at the stack's router, with the stack's token file."""
    data = yaml.safe_load(source.read_text()) or {}
    data = rewrite_ports(data, ports.rewrites())
    for receiver in data.get("receivers") or []:
        _absolutize_credentials(receiver, source.parent, token_file)
    if overrides is not None:
        overrides(data)
    return _write_yaml(dest, data, source)


def derive_router(source: Path, dest: Path, ports: Ports,
                  escalation: Path | None = None) -> Path:
    """router.yml with the stack's port, its Prometheus (for `vigil alert context` and the
    console's overview), absolute escalation and on-call files and, unless the source
    configures one, the stack's console (STACK_CONSOLE)."""
    data = yaml.safe_load(source.read_text()) or {}
    data.setdefault("console", copy.deepcopy(STACK_CONSOLE))
    data = rewrite_ports(data, ports.rewrites())
    data.setdefault("listen", {})["port"] = ports.router
    data["prometheus_url"] = f"http://127.0.0.1:{ports.prometheus}"
    esc = escalation or Path(_absolute(source.parent,
                                       str(data.get("escalation_file", "escalation.yml"))))
    data["escalation_file"] = str(esc)
    if data.get("oncall_file"):
        data["oncall_file"] = _absolute(source.parent, str(data["oncall_file"]))
    return _write_yaml(dest, data, source)


def derive_generic(source: Path, dest: Path, ports: Ports,
                   replace: Mapping[str, Any] | None = None,
                   overrides: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Any other vigil YAML (the exporter's): ports moved, relative ``*_file`` paths absolute,
    top-level keys in ``replace`` set (e.g. the exporter's ``state_dir`` into the state folder),
    then ``overrides`` applied (the test stacks' faster collectors).
    """
    data = yaml.safe_load(source.read_text()) or {}
    data = rewrite_ports(data, ports.rewrites())
    _absolutize_credentials(data, source.parent)
    for key, value in (replace or {}).items():
        if key in data:
            data[key] = value
    if overrides is not None:
        overrides(data)
    return _write_yaml(dest, data, source)


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
