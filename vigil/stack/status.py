"""What the stack looks like from outside: each part's state and health (``vigil status``),
the URLs ``vigil up`` prints, the stack file it leaves for ``vigil status``/``vigil down``,
and the router's summary. Reads records and asks URLs; starts and stops nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from vigil.core import httpclient
from vigil.core.secrets import redact_dsn
from vigil.stack import procs
from vigil.stack.parts import ORDER, Parts
from vigil.stack.plan import Layout, Ports, Service


@dataclasses.dataclass(frozen=True)
class PartStatus:
    name: str
    title: str
    state: str               # running, stopped, dead, skipped
    healthy: bool | None     # None: no health check (not running)
    pid: int | None
    url: str | None
    detail: str = ""


def healthy(svc: Service, records: procs.RecordStore) -> bool:
    """Its health URL answers; a part without one is healthy while it runs."""
    if svc.health_url is None:
        record = records.load(svc.name)
        return record is not None and procs.is_running(record)
    return httpclient.is_healthy(svc.health_url)


def pg_ready(admin_dsn: str) -> bool:
    try:
        with psycopg.connect(admin_dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def status(parts: Parts, records: procs.RecordStore) -> list[PartStatus]:
    out = [PartStatus("postgres", "PostgreSQL", "running" if pg_ready(parts.admin) else "stopped",
                      pg_ready(parts.admin), None, redact_dsn(parts.admin))]
    for name, svc in parts.services().items():
        record = records.load(name)
        if svc.missing and record is None:
            out.append(PartStatus(name, svc.title, "skipped", None, None, svc.url,
                                  svc.missing))
            continue
        if record is None:
            out.append(PartStatus(name, svc.title, "stopped", None, None, svc.url))
            continue
        if not procs.is_running(record):
            out.append(PartStatus(name, svc.title, "dead", False, record.pid, svc.url,
                                  f"exited; see {record.log_path}"))
            continue
        out.append(PartStatus(name, svc.title, "running", healthy(svc, records), record.pid,
                              svc.url))
    return out


def urls(parts: Parts) -> list[tuple[str, str]]:
    services, port, layout = parts.services(), parts.options.ports.router, parts.layout
    out = [(services[n].title, services[n].url or "") for n in ORDER
           if n in services and services[n].url and not services[n].missing]
    if "router" in services and not services["router"].missing:
        # The router's web console: the runbook's thresholds and signals, from Prometheus
        # (what the docs call the dashboard on the native stack, which has no Grafana).
        out.insert(0, ("overview (console)", f"http://127.0.0.1:{port}/console/overview"))
        # Where to log in (derive.STACK_CONSOLE): the password's file, never the password.
        password = layout.state / "console-responder-password"
        out.append((f"console (user responder, password in {password})",
                    f"http://127.0.0.1:{port}/console/"))
    out.append(("state and logs", str(layout.state)))
    return out


def write_stack_file(layout: Layout, ports: Ports, services: Mapping[str, Service]) -> None:
    """The ports and URLs of this `vigil up`, for `vigil status` and `vigil down`."""
    doc = {
        "ports": dataclasses.asdict(ports),
        "urls": {n: s.url for n, s in services.items() if s.url and not s.missing},
        "updated_at": datetime.now().astimezone().isoformat(),
    }
    layout.stack_file.write_text(json.dumps(doc, indent=2))


def router_token(layout: Layout) -> str:
    """The token `vigil up` made for the router ("" before the first `vigil up`)."""
    return layout.token_file.read_text().strip() if layout.token_file.is_file() else ""


def router_summary(layout: Layout, ports: Ports) -> dict[str, Any]:
    """Open alerts by severity and the next escalation due, from the router API."""
    from vigil.stack import health

    return health.router_summary(f"http://127.0.0.1:{ports.router}", router_token(layout))
