"""config/exporter.yml: the shape (typed dataclasses) and then its meaning (cross-checks).

``load_config(path)`` returns a frozen ``ExporterConfig`` or raises one ConfigError that
lists every problem with its YAML path.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from exporter import sqlcheck
from vigil.core import config as vconfig
from vigil.core import listen
from vigil.core.config import Dsn, Seconds
from vigil.core.errors import ConfigError

DEFAULT_PORT = 18090
BUILTIN_COLLECTORS = ("rls", "encryption", "audit", "phi", "security", "indexes",
                      "audit_pipeline", "maintenance", "controls", "containment")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
COLLECTOR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Labels that identify people or tenants: only with privacy.tenant_labels / actor_labels.
TENANT_LABELS = frozenset({"tenant", "tenant_id"})
ACTOR_LABELS = frozenset({"actor", "actor_id", "user", "user_id", "usename"})
RESERVED_LABELS = frozenset({"target", "le", "quantile"})


@dataclass(frozen=True)
class PoolConfig:
    """psycopg_pool.AsyncConnectionPool settings; deliberately impatient."""

    min_size: int = 1
    max_size: int = 4
    timeout: Seconds = 2.0          # wait for a free connection; <= 2 s
    max_waiting: int = 16           # bounded queue (>= the built-in collectors): more fail at once
    connect_timeout: Seconds = 3.0  # libpq connect_timeout (>= 2 s)
    reconnect_timeout: Seconds = 5.0

    def __post_init__(self) -> None:
        if self.max_size < 1 or self.min_size < 0 or self.min_size > self.max_size:
            raise ValueError("pool: need 0 <= min_size <= max_size and max_size >= 1")
        if not 0 < self.timeout <= 2.0:
            raise ValueError("pool.timeout must be > 0 and <= 2s (an exporter must not queue)")
        if self.max_waiting < 1:
            raise ValueError("pool.max_waiting must be >= 1 (0 would be unbounded)")


@dataclass(frozen=True)
class Target:
    name: str
    dsn: Dsn
    pool: PoolConfig = PoolConfig()
    # Which collectors run on this target (built-in and custom names); default: all.
    collectors: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CollectorSettings:
    """Overrides for a built-in collector."""

    enabled: bool = True
    interval: Seconds | None = None
    timeout: Seconds | None = None
    lock_timeout: Seconds | None = None
    max_series: int | None = None


@dataclass(frozen=True)
class MetricConfig:
    name: str
    type: Literal["gauge", "counter", "histogram"]
    help: str
    value: str = "value"                   # column holding the number (histogram: seconds)
    labels: tuple[str, ...] = ()           # columns that become labels: the allow-list
    buckets: tuple[float, ...] | None = None
    watermark: str | None = None           # histogram: monotonic id column, observe once
    max_series: int | None = None


@dataclass(frozen=True)
class QueryConfig:
    sql: str
    metrics: tuple[MetricConfig, ...]


@dataclass(frozen=True)
class CustomCollector:
    name: str
    queries: tuple[QueryConfig, ...]
    interval: Seconds = 60.0
    timeout: Seconds = 5.0
    lock_timeout: Seconds = 1.0


@dataclass(frozen=True)
class WebSettings:
    listen_address: str = f"127.0.0.1:{DEFAULT_PORT}"
    telemetry_path: str = "/metrics"


@dataclass(frozen=True)
class Privacy:
    tenant_labels: bool = False   # allow tenant labels (PHI histogram gets {tenant})
    actor_labels: bool = False


@dataclass(frozen=True)
class Limits:
    max_series_per_metric: int = 1000
    unused_index_info_max_series: int = 100
    watermark_batch: int = 10000   # rows read per histogram query
    max_rows: int = 10000          # rows a custom (non-watermark) query may return per run


@dataclass(frozen=True)
class SchedulerSettings:
    start_jitter: Seconds = 5.0    # first run at boot + uniform(0, min(jitter, interval))


@dataclass(frozen=True)
class ExporterConfig:
    targets: tuple[Target, ...]
    web: WebSettings = WebSettings()
    state_dir: str = ".vigil/exporter"
    # First start without a state file: "now" observes only rows written from now on,
    # "zero" observes every row already in the tables.
    watermark_start: Literal["now", "zero"] = "now"
    privacy: Privacy = Privacy()
    limits: Limits = Limits()
    scheduler: SchedulerSettings = SchedulerSettings()
    collectors: dict[str, CollectorSettings] = field(default_factory=dict)
    custom_collectors: tuple[CustomCollector, ...] = ()

    def settings(self, name: str) -> CollectorSettings:
        return self.collectors.get(name, CollectorSettings())


def _check_metric(m: MetricConfig, where: str, cfg: ExporterConfig,
                  errors: list[tuple[str, str]]) -> None:
    if not METRIC_NAME.match(m.name):
        errors.append((f"{where}.name", f"invalid metric name {m.name!r}"))
    if m.type == "counter" and not m.name.endswith("_total"):
        errors.append((f"{where}.name", f"counter {m.name!r} must end in _total"))
    if m.type != "counter" and m.name.endswith("_total"):
        errors.append((f"{where}.name", f"only counters end in _total, {m.name!r} is a {m.type}"))
    if not m.help.strip():
        errors.append((f"{where}.help", "say what the metric means and where it comes from"))
    for label in m.labels:
        if not LABEL_NAME.match(label) or label.startswith("__"):
            errors.append((f"{where}.labels", f"invalid label name {label!r}"))
        elif label in RESERVED_LABELS:
            errors.append((f"{where}.labels", f"label {label!r} is reserved"))
        elif label in TENANT_LABELS and not cfg.privacy.tenant_labels:
            errors.append((f"{where}.labels", f"label {label!r} needs privacy.tenant_labels: true"))
        elif label in ACTOR_LABELS and not cfg.privacy.actor_labels:
            errors.append((f"{where}.labels", f"label {label!r} needs privacy.actor_labels: true"))
    if len(set(m.labels)) != len(m.labels):
        errors.append((f"{where}.labels", "duplicate label"))
    if m.type == "histogram":
        b = m.buckets
        if not b:
            errors.append((f"{where}.buckets", "a histogram needs buckets (seconds)"))
        elif list(b) != sorted(set(b)) or any(math.isinf(x) or math.isnan(x) for x in b):
            errors.append((f"{where}.buckets", "buckets must be finite and strictly increasing"))
    elif m.buckets is not None:
        errors.append((f"{where}.buckets", "only histograms have buckets"))
    if m.watermark is not None and m.type != "histogram":
        errors.append((f"{where}.watermark", "only histograms (one observation per row) "
                                             "use a watermark"))
    if m.max_series is not None and m.max_series < 1:
        errors.append((f"{where}.max_series", "must be >= 1"))


def check(cfg: ExporterConfig, source: str) -> ExporterConfig:
    """The meaning: names unique and known, labels safe, limits sane."""
    errors: list[tuple[str, str]] = []
    if not cfg.targets:
        errors.append(("targets", "at least one target is required"))
    names = [t.name for t in cfg.targets]
    for i, t in enumerate(cfg.targets):
        if (why := dsn_problem(t.dsn)) is not None:
            errors.append((f"targets[{i}].dsn", why))
        if not COLLECTOR_NAME.match(t.name.replace("-", "_")):
            errors.append((f"targets[{i}].name", "use lowercase letters, digits, - and _"))
        if names.count(t.name) > 1:
            errors.append((f"targets[{i}].name", f"duplicate target {t.name!r}"))
    for key, settings in cfg.collectors.items():
        if key not in BUILTIN_COLLECTORS:
            errors.append((f"collectors.{key}", "unknown built-in collector; known: "
                                                + ", ".join(BUILTIN_COLLECTORS)))
        for attr in ("interval", "timeout", "lock_timeout", "max_series"):
            v = getattr(settings, attr)
            if v is not None and v <= 0:
                errors.append((f"collectors.{key}.{attr}",
                               "must be > 0 (leave it out for the default)"))
    custom_names: list[str] = []
    metric_names: set[str] = set()
    for i, c in enumerate(cfg.custom_collectors):
        where = f"custom_collectors[{i}]"
        if not COLLECTOR_NAME.match(c.name):
            errors.append((f"{where}.name", "use lowercase letters, digits and _"))
        if c.name in BUILTIN_COLLECTORS or c.name in custom_names or c.name == "ping":
            errors.append((f"{where}.name", f"collector {c.name!r} already exists"))
        custom_names.append(c.name)
        for attr in ("interval", "timeout", "lock_timeout"):
            if getattr(c, attr) <= 0:
                errors.append((f"{where}.{attr}", "must be > 0"))
        if not c.queries:
            errors.append((f"{where}.queries", "at least one query is required"))
        for j, q in enumerate(c.queries):
            if (why := sqlcheck.problem(q.sql)) is not None:
                errors.append((f"{where}.queries[{j}].sql", why))
            for k, m in enumerate(q.metrics):
                mwhere = f"{where}.queries[{j}].metrics[{k}]"
                _check_metric(m, mwhere, cfg, errors)
                if m.name in metric_names or m.name.startswith("vigil_"):
                    errors.append((f"{mwhere}.name", f"metric {m.name!r} already exists or "
                                                     "uses the reserved vigil_ prefix"))
                metric_names.add(m.name)
    known = set(BUILTIN_COLLECTORS) | set(custom_names)
    for i, t in enumerate(cfg.targets):
        for name in t.collectors or ():
            if name not in known:
                errors.append((f"targets[{i}].collectors", f"unknown collector {name!r}"))
    for attr in ("max_series_per_metric", "unused_index_info_max_series", "watermark_batch",
                 "max_rows"):
        if getattr(cfg.limits, attr) < 1:
            errors.append((f"limits.{attr}", "must be >= 1"))
    if cfg.scheduler.start_jitter < 0:
        errors.append(("scheduler.start_jitter", "must be >= 0"))
    path = cfg.web.telemetry_path
    if not path.startswith("/") or path in ("/", "/-/healthy", "/-/ready"):
        errors.append(("web.telemetry_path", "must be a path starting with '/' other than /, "
                                             f"/-/healthy and /-/ready, got {path!r}"))
    if (why := listen.problem(cfg.web.listen_address)) is not None:
        errors.append(("web.listen_address", why))
    if errors:
        raise ConfigError(source, errors)
    return cfg


def build_config(data: Any, source: str = "<config>") -> ExporterConfig:
    return check(vconfig.build(ExporterConfig, data, source), source)


def load_config(path: str | Path, env: dict[str, str] | None = None) -> ExporterConfig:
    # The file a person wrote: every duration carries its unit (`interval: 60` is refused
    # with its YAML path). Python callers of build_config pass seconds as numbers.
    return check(vconfig.load(ExporterConfig, path, env, units_required=True), str(path))


def dsn_problem(dsn: str) -> str | None:
    """Why ``dsn`` cannot be a connection string (never quoting it: it may hold a password)."""
    if not dsn.strip():
        return "must not be empty"
    scheme = re.match(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://", dsn)
    if scheme and scheme.group(1).lower() not in ("postgres", "postgresql"):
        return (f"not a PostgreSQL DSN: the scheme {scheme.group(1).lower()}:// is not "
                "postgres:// or postgresql:// (or use key=value pairs)")
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return ("malformed connection string (use postgresql://user@host:port/db or "
                "key=value pairs)")
    return None


# vigil.core.listen's parser, under the name the exporter's callers know.
parse_listen_address = listen.parse
