"""The router's Prometheus metrics (names fixed in docs/CONTRACTS.md).

Counters and histograms are per process (sum them across replicas in PromQL).
Gauges that describe shared state (open alerts, outbox backlog, dead letters)
come from a database snapshot taken at scrape time, so every replica reports
the same truth and vanished label sets vanish.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from router.config import LEVELS


class Snapshot(Collector):
    def __init__(self) -> None:
        self.open_alerts: dict[str, int] = {}
        self.outbox_pending = 0
        self.outbox_dead = 0
        self.ready = 0

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily("vigil_router_open_alerts",
                              "Alerts not yet resolved, by severity.", labels=["severity"])
        for sev in LEVELS:
            g.add_metric([sev], self.open_alerts.get(sev, 0))
        yield g
        yield GaugeMetricFamily("vigil_router_outbox_pending",
                                "Notifications waiting to be delivered.", value=self.outbox_pending)
        yield GaugeMetricFamily("vigil_router_outbox_dead",
                                "Notifications dead-lettered after their last retry.",
                                value=self.outbox_dead)
        yield GaugeMetricFamily("vigil_router_up",
                                "1 if the database is reachable and migrations are current.",
                                value=self.ready)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter("vigil_router_alerts_received", "New alerts stored, by severity.",
                                ["severity"], registry=r)
        self.duplicates = Counter("vigil_router_duplicates",
                                  "Repeats of an alert already stored (no-ops).", registry=r)
        self.fallbacks = Counter("vigil_router_severity_fallbacks",
                                 "Alerts whose severity label was missing or unknown.",
                                 registry=r)
        self.notifications = Counter("vigil_router_notifications",
                                     "Delivery attempts by outcome (sent, retry, dead).",
                                     ["target", "channel", "outcome"], registry=r)
        self.escalations = Counter("vigil_router_escalations",
                                   "Escalation steps fired, by severity and step.",
                                   ["severity", "step"], registry=r)
        self.time_to_ack = Histogram(
            "vigil_router_time_to_ack_seconds", "Time from receipt to ack, by severity.",
            ["severity"], registry=r,
            buckets=(60, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400, 172800))
        self.sla_breaches = Counter("vigil_router_sla_breaches",
                                    "Alerts not acked within their level's response time.",
                                    ["severity"], registry=r)
        self.stale_resolved = Counter(
            "vigil_router_stale_resolved",
            "Alerts resolved because Alertmanager stopped re-sending them (stale_after).",
            ["severity"], registry=r)
        self.webhook_latency = Histogram(
            "vigil_router_webhook_request_duration_seconds",
            "Alertmanager webhook handling time, by HTTP status code.", ["code"], registry=r,
            buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
        self.snapshot = Snapshot()
        r.register(self.snapshot)
        for sev in LEVELS:  # so rate() works from the first alert on
            self.received.labels(sev)
            self.sla_breaches.labels(sev)
            self.stale_resolved.labels(sev)
            self.time_to_ack.labels(sev)  # SLA panels show 0, not "no data", per level
