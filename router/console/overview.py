"""The overview page: the runbook's three thresholds and the security signals over the last
hours, from Prometheus, drawn as inline SVG, each linking to its runbook section.

For the native stack, where no Grafana runs. The queries read the recording rules of
prometheus/rules/recording.yml and the thresholds are the alert rules' own
(prometheus/rules/performance.yml, security.yml), so the dashed line is where a page starts.
"""

from __future__ import annotations

import asyncio
import dataclasses

from aiohttp import web

from router import prom
from router.console import svg
from router.console.render import h, page
from router.console.session import console_config, csrf_for, require
from router.keys import CLOCK, CONFIG
from vigil.core.prom import PrometheusUnavailable


@dataclasses.dataclass(frozen=True)
class Panel:
    title: str
    promql: str
    runbook: str                 # the anchor in docs/runbook.md
    threshold: float | None = None
    unit: str = ""


THRESHOLDS = (
    Panel("RLS overhead (max per table)", "max by (target) (target:vigil_rls_overhead_seconds:max)",
          "rls-optimization", 0.05, "s"),
    Panel("Encryption p95", "max by (target) "
          "(target_operation:vigil_encryption_duration_seconds:p95_rate5m)",
          "encryption-performance", 0.1, "s"),
    Panel("Audit write latency p95",
          "max by (target) (target:vigil_audit_write_duration_seconds:p95_rate5m)",
          "audit-performance", 0.01, "s"),
)
SIGNALS = (
    Panel("Failed access attempts per second",
          "sum by (target) (target:vigil_access_failed_attempts:rate5m)",
          "failed-access-attempts", 0.05),
    Panel("Unusual access patterns", "sum by (target) (vigil_access_unusual_patterns)",
          "unusual-access-patterns", 0.0),
    Panel("Encryption failures (5 min)",
          "sum by (target) (target:vigil_encryption_failed_operations:increase5m)",
          "encryption-failures", 0.0),
    Panel("Encryption key age (days)",
          "max by (target) (vigil_encryption_key_age_seconds) / 86400",
          "encryption-key-age"),
    Panel("Audit coverage", "min by (target) (vigil_audit_coverage_ratio)", "audit-coverage",
          1.0, "ratio"),
    Panel("Audit gaps", "sum by (target) (vigil_audit_gaps)", "audit-gaps", 0.0),
    Panel("Audit integrity issues", "sum by (target) (vigil_audit_integrity_issues)",
          "audit-integrity", 0.0),
)
POINTS = 120
TIMEOUT = 5.0            # each panel's query; the panels are asked at once


async def query_range(base: str, promql: str, start: float, end: float) -> list[svg.Series]:
    step = max((end - start) / POINTS, 15.0)
    rows = await prom.read(base, lambda p: p.query_range(promql, start, end, step),
                           call_timeout=TIMEOUT, deadline=TIMEOUT)
    # The legend is the target's name only: the one label these queries keep.
    return [(labels.get("target", "all"), points) for labels, points in rows]


async def _panel(base: str, p: Panel, start: float, end: float) -> str:
    try:
        series = await query_range(base, p.promql, start, end)
        note = ""
    except PrometheusUnavailable:
        series, note = [], '<p class="error">Prometheus did not answer this query.</p>'
    legend = ", ".join(sorted({name for name, _ in series}))
    return (f'<figure class="panel" id="{h(p.runbook)}"><figcaption>'
            f'<a href="/console/runbook#{h(p.runbook)}">{h(p.title)}</a>'
            f'<span class="legend">{h(legend)}</span></figcaption>'
            + svg.chart(p.title, series, start, end, threshold=p.threshold, unit=p.unit)
            + note + "</figure>")


async def overview(request: web.Request) -> web.Response:
    v = await require(request)
    cfg = console_config(request)
    now = request.app[CLOCK].now()
    end = now.timestamp()
    start = end - cfg.overview_window
    hours = cfg.overview_window / 3600
    url = request.app[CONFIG].router.prometheus_url
    if not url:
        body = ("<p>No Prometheus configured: set <code>prometheus_url</code> in "
                "router.yml.</p>")
    else:
        panels = await asyncio.gather(*(_panel(url, p, start, end)
                                        for p in (*THRESHOLDS, *SIGNALS)))
        n = len(THRESHOLDS)
        body = (f"<p>The last {hours:g} hours from Prometheus; the dashed line is the "
                "runbook's threshold. Each title opens its runbook section.</p>"
                '<h3>Runbook thresholds</h3><div class="panels">' + "".join(panels[:n])
                + '</div><h3>Security signals</h3><div class="panels">'
                + "".join(panels[n:]) + "</div>")
    return page("Overview", body, session=v.session, csrf=csrf_for(request, v), now=now)


def setup_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/overview", overview)
