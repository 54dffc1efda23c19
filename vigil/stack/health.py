"""What ``vigil status`` asks the running parts, beyond "is the process alive".

- the exporter's own metrics: does each collector succeed on each target (a process can be
  up and healthy while every collector fails on a revoked grant);
- Prometheus's targets: does each scrape succeed;
- the router: open alerts by severity and the next escalation due, in one request.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from vigil.core import httpclient
from vigil.core.errors import VigilError
from vigil.core.prom import Prom


@dataclasses.dataclass(frozen=True)
class CollectorHealth:
    target: str
    collector: str
    ok: bool
    last_success_age: float | None   # seconds since its last success; None: never succeeded
    errors: dict[str, float]         # failed runs by reason (only reasons seen)


@dataclasses.dataclass(frozen=True)
class TargetHealth:
    target: str
    up: bool
    down_reason: str | None


@dataclasses.dataclass(frozen=True)
class ExporterHealth:
    targets: list[TargetHealth]
    collectors: list[CollectorHealth]

    @property
    def ok(self) -> bool:
        return (all(t.up for t in self.targets) and all(c.ok for c in self.collectors)
                and bool(self.collectors))


def exporter(metrics_url: str, now: float | None = None, timeout: float = 3.0
             ) -> ExporterHealth:
    """Read vigil_up, vigil_down_reason and vigil_collector_* from the exporter's /metrics."""
    _, body = httpclient.request(metrics_url, timeout=timeout)
    now = time.time() if now is None else now
    up: dict[str, bool] = {}
    reason: dict[str, str] = {}
    success: dict[tuple[str, str], bool] = {}
    last: dict[tuple[str, str], float] = {}
    errors: dict[tuple[str, str], dict[str, float]] = {}
    for family in text_string_to_metric_families(body.decode(errors="replace")):
        for s in family.samples:
            lb = s.labels
            key = (lb.get("target", ""), lb.get("collector", ""))
            if s.name == "vigil_up":
                up[key[0]] = s.value == 1
            elif s.name == "vigil_down_reason" and s.value == 1:
                reason[key[0]] = lb.get("reason", "other")
            elif s.name == "vigil_collector_success":
                success[key] = s.value == 1
            elif s.name == "vigil_collector_last_success_timestamp_seconds":
                last[key] = s.value
            elif s.name == "vigil_collector_errors_total" and s.value > 0:
                errors.setdefault(key, {})[lb.get("reason", "?")] = s.value
    return ExporterHealth(
        targets=[TargetHealth(t, ok, reason.get(t)) for t, ok in sorted(up.items())],
        collectors=[CollectorHealth(t, c, ok, (now - last[(t, c)]) if (t, c) in last else None,
                                    errors.get((t, c), {}))
                    for (t, c), ok in sorted(success.items())])


def scrape_targets(prometheus_url: str, timeout: float = 3.0) -> list[dict[str, Any]]:
    """Each active scrape target: job, instance, health (up/down/unknown), last error."""
    return [{"job": t["labels"].get("job", ""), "instance": t["labels"].get("instance", ""),
             "health": t.get("health", "unknown"), "last_error": t.get("lastError") or None}
            for t in Prom(prometheus_url, timeout=timeout).targets()]


def scrapes(prometheus_url: str, timeout: float = 3.0) -> tuple[list[dict[str, Any]] | None, str]:
    """(the scrape targets, "") or (None, why they could not be read): a running Prometheus
    whose targets can't be read proves nothing is scraped, so `vigil status` is not OK."""
    try:
        return scrape_targets(prometheus_url, timeout), ""
    except (VigilError, OSError, ValueError, KeyError, TypeError) as exc:
        return None, str(exc) or type(exc).__name__


def router_summary(router_url: str, token: str, timeout: float = 3.0) -> dict[str, Any]:
    """Open alerts by severity and the next escalation due: ONE request (each listed alert
    carries its earliest pending step, ``next_step``)."""
    from router.client_cli import RouterClient

    api = RouterClient(router_url, token, timeout=timeout)
    doc = api.get("/api/v1/alerts?status=unresolved&limit=1000")
    by_sev: dict[str, int] = {"P1": 0, "P2": 0, "P3": 0, "P4": 0}
    acked = 0
    next_due: dict[str, Any] | None = None
    for alert in doc.get("alerts", []):
        sev = str(alert.get("severity", "?"))
        by_sev[sev] = by_sev.get(sev, 0) + 1
        if alert.get("status") != "open":
            acked += 1
            continue
        step = alert.get("next_step")
        if step and (next_due is None or str(step["due_at"]) < next_due["due_at"]):
            next_due = {"due_at": str(step["due_at"]), "alert_id": alert["id"],
                        "alertname": alert.get("alertname"), "severity": sev,
                        "step": step.get("step_no"), "targets": step.get("targets")}
    return {"open": by_sev, "acked": acked, "next_due": next_due}
