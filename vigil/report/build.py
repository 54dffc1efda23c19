"""Build one day's report: gather from Prometheus and the database, render, store."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.core.prom import Prom
from vigil.report import html, markdown, model
from vigil.report.gather_db import gather as gather_db
from vigil.report.gather_prom import PromGatherer
from vigil.report.gather_router import gather as gather_router
from vigil.report.store import ReportStore
from vigil.report.window import Day

DEFAULT_PROMETHEUS = "http://127.0.0.1:9090"


def default_prometheus_url() -> str:
    return os.environ.get("VIGIL_PROMETHEUS_URL", DEFAULT_PROMETHEUS)


def default_dsn() -> str:
    env = os.environ.get("VIGIL_REPORT_DSN")
    if env:
        return env
    from vigil.stack.plan import demo_dsn

    return demo_dsn()


def yesterday(now: dt.datetime) -> dt.date:
    return (now.astimezone(dt.UTC) - dt.timedelta(days=1)).date()


@dataclass(frozen=True)
class Sources:
    prometheus_url: str
    dsn: str
    router_dsn: str | None = None


def default_router_dsn() -> str | None:
    return os.environ.get("VIGIL_ROUTER_DSN") or None


def gather_prom(prom: Prom, day: Day) -> dict[str, Any]:
    g = PromGatherer(prom, day)
    out: dict[str, Any] = {"thresholds": g.thresholds(), "access": g.access(), "audit": g.audit(),
           "encryption": g.encryption(), "alerts": g.alerts(), "collection": g.collection()}
    out["missing"] = g.missing
    return out


def daily(sources: Sources, date: dt.date, store: ReportStore, *, now: dt.datetime,
          step: int = 60, replace: bool = False) -> tuple[dict[str, Any], Path]:
    """Build, render and store ``date``'s report; returns it and its folder."""
    from vigil.core.pg import dbname_of

    store.check_writable(date, replace)  # fail fast, before the queries
    day = Day(date, step)
    prom = gather_prom(Prom(sources.prometheus_url), day)
    db = gather_db(sources.dsn, day)
    prom["router"] = gather_router(sources.router_dsn, day)
    with store.locked():
        store.check_writable(date, replace)  # again: another writer may have stored meanwhile
        doc = model.build(date, prom, db, previous_hash=store.previous_hash(date),
                          generated_at=now,
                          sources={"prometheus": sources.prometheus_url,
                                   "database": dbname_of(sources.dsn),
                                   "step_seconds": str(step)})
        folder = store.save(doc, html.render(doc), markdown.render(doc))
    return doc, folder


def store_at(path: str | None) -> ReportStore:
    from vigil.report.store import default_root

    return ReportStore(Path(path) if path else default_root())
