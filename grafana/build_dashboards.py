"""Generate grafana/dashboards/*.json (dashboards as code).

Run ``.venv/bin/python grafana/build_dashboards.py`` after editing; tests/dashboards checks
the committed JSON equals this script's output, that the runbook thresholds drawn here equal
the alert thresholds in prometheus/rules, and runs every panel query against a real
Prometheus scraping the exporter and router.

Template variables: ``$target`` (database target) and ``$table`` (a table's catalog name, as
the RLS gauge and the PHI/audit histograms label it: ``schema="public", table="Deal"``), both
multi-value with "All". Panel queries use only those and Grafana's ``$__rate_interval``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "vigil-prometheus"}

# The runbook's thresholds, in seconds; tests/dashboards checks they equal the alert rules'.
RLS_THRESHOLD = 0.05
PHI_THRESHOLD = 0.1
AUDIT_THRESHOLD = 0.01
ENCRYPTION_THRESHOLD = 0.1
# The audit pipeline's policy constants (prometheus/rules/policy.yml), also checked by the tests.
SEAL_LAG_THRESHOLD = 300.0       # vigil:policy:audit_seal_lag_max_seconds
BUFFER_AGE_THRESHOLD = 900.0     # vigil:policy:audit_buffer_oldest_max_seconds
MAINTENANCE_AGE_THRESHOLD = 3600.0  # vigil:policy:maintenance_max_age_seconds
ROLLUP_LAG_THRESHOLD = 7200.0    # vigil:policy:rollup_lag_max_seconds
# The Alert Levels table's response times, in seconds.
SLA = {"P1": 900, "P2": 3600, "P3": 14400, "P4": 86400}

T = 'target=~"$target"'
TT = 'target=~"$target", table=~"$table"'
TABLE = "schema, table"  # a table is its schema and its name, as every vigil series labels it

Panel = dict[str, Any]


def q(expr: str, legend: str = "", ref: str = "A") -> dict[str, Any]:
    return {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}


def panel(title: str, targets: list[dict[str, Any]], *, kind: str = "timeseries",
          unit: str = "short", threshold: float | None = None, description: str = "",
          w: int = 8, h: int = 8, threshold_below: bool = False,
          options: dict[str, Any] | None = None) -> Panel:
    """A panel; ``threshold`` draws a red line (timeseries) or colours the value (stat)."""
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if threshold is not None:
        if threshold_below:
            steps = [{"color": "red", "value": None}, {"color": "green", "value": threshold}]
        else:
            steps.append({"color": "red", "value": threshold})
    custom: dict[str, Any] = {}
    if kind == "timeseries":
        custom = {"thresholdsStyle": {"mode": "line" if threshold is not None else "off"},
                  "lineWidth": 1, "fillOpacity": 10, "spanNulls": True}
    for i, t in enumerate(targets):
        t["refId"] = chr(ord("A") + i)
    return {
        "type": kind, "title": title, "description": description, "datasource": DATASOURCE,
        "targets": targets, "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom,
                                     "thresholds": {"mode": "absolute", "steps": steps}},
                        "overrides": []},
        "options": options or ({"legend": {"displayMode": "list", "placement": "bottom"},
                                "tooltip": {"mode": "multi"}} if kind == "timeseries" else {}),
    }


def row(title: str) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"w": 24, "h": 1}}


def variables(table_metric: str | None) -> list[dict[str, Any]]:
    def var(name: str, label: str, query: str) -> dict[str, Any]:
        return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
                "query": {"query": query, "refId": f"{name}-var"}, "definition": query,
                "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*",
                "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                "sort": 1}

    out = [var("target", "Database target", "label_values(vigil_up, target)")]
    if table_metric:
        out.append(var("table", "Table",
                       f'label_values({table_metric}{{target=~"$target"}}, table)'))
    return out


def dashboard(uid: str, title: str, description: str, panels: list[Panel],
              table_metric: str | None = "vigil_phi_query_duration_seconds_count",
              ) -> dict[str, Any]:
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        p["id"] = i
        gp = p["gridPos"]
        if p["type"] == "row" or x + gp["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        gp["x"], gp["y"] = x, y
        x += gp["w"]
        row_h = max(row_h, gp["h"])
        if p["type"] == "row":
            x, y, row_h = 0, y + 1, 0
    return {
        "uid": uid, "title": title, "description": description, "tags": ["vigil"],
        "editable": False, "schemaVersion": 37, "version": 1, "timezone": "browser",
        "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables(table_metric)},
        "annotations": {"list": [{
            "name": "Firing vigil alerts", "datasource": DATASOURCE, "enable": True,
            "iconColor": "red", "expr": 'ALERTS{alertstate="firing", alertname=~"Vigil.*"}',
            "titleFormat": "{{alertname}} ({{severity}})", "textFormat": "{{target}}",
            "step": "60s"}]},
        "links": [{"type": "dashboards", "tags": ["vigil"], "asDropdown": True,
                   "title": "vigil dashboards", "includeVars": True, "keepTime": True}],
        "panels": panels,
    }


def overview() -> dict[str, Any]:
    return dashboard("vigil-overview", "vigil / Overview (daily health check)",
                     "The runbook's Daily Health Check at a glance: the three thresholds, "
                     "collector health and open alerts by severity.", [
        row("Daily health check (runbook thresholds drawn in red)"),
        panel("RLS overhead, worst table (< 50ms)",
              [q(f"target:vigil_rls_overhead_seconds:max{{{T}}}", "{{target}}")],
              unit="s", threshold=RLS_THRESHOLD,
              description="max over tables of monitor_rls_overhead(); alert VigilRlsOverheadHigh"),
        panel("PHI query time p95 over 5m (< 100ms)",
              [q(f"target:vigil_phi_query_duration_seconds:p95_rate5m{{{T}}}", "{{target}}")],
              unit="s", threshold=PHI_THRESHOLD,
              description="alert VigilPhiQuerySlow fires per table on the same statistic"),
        panel("Audit write time p95 over 5m (< 10ms)",
              [q(f"target:vigil_audit_write_duration_seconds:p95_rate5m{{{T}}}", "{{target}}")],
              unit="s", threshold=AUDIT_THRESHOLD,
              description="alert VigilAuditWriteSlow fires per table on the same statistic"),
        row("Collection"),
        panel("Database reachable (vigil_up)", [q(f"vigil_up{{{T}}}", "{{target}}")],
              kind="stat", threshold=1, threshold_below=True, w=6,
              options={"colorMode": "background", "textMode": "value_and_name"}),
        panel("Collector success (1 ok, 0 failing)",
              [q(f"vigil_collector_success{{{T}}}", "{{target}} {{collector}}")],
              kind="stat", threshold=1, threshold_below=True, w=10,
              options={"colorMode": "background", "textMode": "value_and_name"}),
        panel("Seconds since each collector's last success",
              [q(f"time() - vigil_collector_last_success_timestamp_seconds{{{T}}}",
                 "{{target}} {{collector}}")], unit="s", w=8),
        row("Alerts"),
        panel("Firing alerts in Prometheus, by severity",
              [q('count by (severity) (ALERTS{alertstate="firing", alertname=~"Vigil.*"})',
                 "{{severity}}")], kind="stat", w=12,
              description="Empty when nothing fires.",
              options={"textMode": "value_and_name"}),
        panel("Open alerts at the router, by severity",
              [q("sum by (severity) (vigil_router_open_alerts)", "{{severity}}")],
              kind="stat", w=12, options={"textMode": "value_and_name"},
              description="Not yet resolved in the router (acked or not)."),
        row("Daily security report"),
        report_link(),
    ])


def report_link() -> Panel:
    """The daily report (issue #13) lives in a file store; this panel shows whether its
    review is overdue and says where the report is. -1 means no reporter is scraped: shown as
    NO DATA in red, never as a healthy 0."""
    p = panel("Oldest unreviewed daily report (vigil report list)",
              [q("max(vigil_report_unreviewed_age_seconds) or on() vector(-1)", "age")],
              kind="stat", unit="s", threshold=172800, w=24, h=4,
              description=(
                  "`vigil report daily` builds yesterday's report at 00:15 UTC (`vigil up` runs "
                  "it) into .vigil/reports/DATE/report.html: thresholds with plots, access "
                  "review, audit, encryption, alerts, collection health. `vigil report attest "
                  "DATE --by NAME` records the review; `vigil report verify` checks the hash "
                  "chain. Red over vigil:policy:report_review_max_age_seconds (48 h; alert "
                  "VigilReportUnreviewed). See docs/report.md and the runbook's Daily Analysis."),
              options={"colorMode": "background", "textMode": "value"})
    p["fieldConfig"]["defaults"]["mappings"] = [
        {"type": "value", "options": {"-1": {"text": "NO DATA: reporter not scraped",
                                              "color": "red"}}}]
    return p


def rls() -> dict[str, Any]:
    return dashboard("vigil-rls", "vigil / RLS", "Row-level security overhead (runbook: RLS "
                     "Optimization).", [
        panel("RLS overhead per table", [q(f"vigil_rls_overhead_seconds{{{TT}}}",
                                           "{{target}} {{schema}}.{{table}}")],
              unit="s", threshold=RLS_THRESHOLD, w=16),
        panel("Unused indexes (idx_scan = 0)", [q(f"vigil_unused_indexes{{{T}}}", "{{target}}")],
              kind="stat", w=8),
        panel("Unused index detail (capped)",
              [q(f"vigil_unused_index_info{{{T}}}", "")], kind="table", w=16,
              options={"showHeader": True}),
        panel("RLS collector run time", [q(f'vigil_collector_duration_seconds{{{T}, '
                                           'collector="rls"}', "{{target}}")], unit="s"),
    ], table_metric="vigil_rls_overhead_seconds")


def encryption_phi() -> dict[str, Any]:
    def quantile(metric: str, by: str, qv: str) -> str:
        return (f"histogram_quantile({qv}, sum by ({by}, le) "
                f"(rate({metric}_bucket{{{TT if by == TABLE else T}}}[$__rate_interval])))")

    phi = "vigil_phi_query_duration_seconds"
    enc = "vigil_encryption_duration_seconds"
    return dashboard("vigil-encryption-phi", "vigil / Encryption & PHI",
                     "PHI query time and pgcrypto operations (runbook: PHI Performance).", [
        row("PHI queries"),
        panel("PHI query time by table: p50, p95, p99", [
            q(quantile(phi, TABLE, "0.5"), "p50 {{schema}}.{{table}}"),
            q(quantile(phi, TABLE, "0.95"), "p95 {{schema}}.{{table}}"),
            q(quantile(phi, TABLE, "0.99"), "p99 {{schema}}.{{table}}")],
            unit="s", threshold=PHI_THRESHOLD, w=12),
        panel("Share of PHI queries over 100ms", [q(
            f'1 - sum by ({TABLE}) (rate({phi}_bucket{{{TT}, le="0.1"}}[$__rate_interval])) '
            f"/ sum by ({TABLE}) (rate({phi}_count{{{TT}}}[$__rate_interval]))",
            "{{schema}}.{{table}}")],
            unit="percentunit", threshold=0.05, w=6,
            description="Over 5% means p95 is over 100ms: VigilPhiQuerySlow."),
        panel("PHI queries per second", [q(
            f"sum by ({TABLE}) (rate({phi}_count{{{TT}}}[$__rate_interval]))",
            "{{schema}}.{{table}}")],
            unit="ops", w=6),
        row("Encryption"),
        panel("Encryption p95 over 5m by operation (< 100ms)", [q(
            f"target_operation:vigil_encryption_duration_seconds:p95_rate5m{{{T}}}",
            "{{target}} {{operation}}")], unit="s", threshold=ENCRYPTION_THRESHOLD),
        panel("Encryption operations per second", [q(
            f"sum by (operation) (rate({enc}_count{{{T}}}[$__rate_interval]))",
            "{{operation}}")], unit="ops"),
        panel("Failed encryption operations (per interval)", [q(
            f"sum by (target) (increase(vigil_encryption_failed_operations_total{{{T}}}"
            "[$__rate_interval]))", "{{target}}")], threshold=1),
        panel("Active key age vs rotation policy", [
            q(f"vigil_encryption_key_age_seconds{{{T}}} / 86400", "{{target}} {{key}}"),
            q("vigil:policy:encryption_key_max_age_seconds / 86400", "policy")],
            unit="d", w=12),
        panel("Re-encryption state", [q(f"vigil_encryption_reencryption_status{{{T}}} == 1",
                                        "{{target}} {{state}}")],
              kind="stat", w=6, options={"textMode": "name"}),
        panel("Re-encryption progress", [q(
            f"vigil_encryption_reencryption_progress_ratio{{{T}}}", "{{target}}")],
            kind="stat", unit="percentunit", w=6),
    ])


def audit() -> dict[str, Any]:
    m = "vigil_audit_write_duration_seconds"
    return dashboard("vigil-audit", "vigil / Audit", "Audit write time, coverage, gaps, "
                     "hash-chain integrity (runbook: Audit Performance) and the #16 pipeline: "
                     "buffer, sealers, chain verification, maintenance.", [
        panel("Audit write p95 over 5m by table (< 10ms)", [q(
            f"target_table:vigil_audit_write_duration_seconds:p95_rate5m{{{TT}}}",
            "{{target}} {{schema}}.{{table}}")], unit="s", threshold=AUDIT_THRESHOLD, w=12),
        panel("Audit writes per second", [q(
            f"sum by ({TABLE}) (rate({m}_count{{{TT}}}[$__rate_interval]))",
            "{{schema}}.{{table}}")],
            unit="ops", w=12),
        panel("Audit coverage (PHI tables audited)", [q(f"vigil_audit_coverage_ratio{{{T}}}",
                                                         "{{target}}")],
              kind="stat", unit="percentunit", threshold=1, threshold_below=True, w=6),
        panel("Audit gaps", [q(f"vigil_audit_gaps{{{T}}}", "{{target}}")], kind="stat",
              threshold=1, w=6),
        panel("Hash-chain integrity issues", [q(f"vigil_audit_integrity_issues{{{T}}}",
                                                "{{target}}")],
              kind="stat", threshold=1, w=6),
        panel("First broken audit row id", [q(f"vigil_audit_first_broken_row_id{{{T}}}",
                                              "{{target}}")],
              kind="stat", w=6, description="0 when the chain verifies."),
        *audit_pipeline_panels(),
    ], table_metric=f"{m}_count")


def audit_pipeline_panels() -> list[Panel]:
    """Issue #16: the buffer the trigger appends to, the sealers chaining it, the verifier,
    and `vigil db maintain` (collectors audit_pipeline and maintenance)."""
    return [
        row("Audit pipeline: buffer, sealer, chain (issue #16)"),
        panel("Audit rows waiting to be sealed", [q(f"vigil_audit_buffer_rows{{{T}}}",
                                                    "{{target}}")], w=8,
              description="vigil_audit_buffer_rows: written by the trigger, not yet chained."),
        panel("Oldest unsealed audit row (< 15m)", [q(
            f"vigil_audit_buffer_oldest_age_seconds{{{T}}}", "{{target}}")],
              unit="s", threshold=BUFFER_AGE_THRESHOLD, w=8,
              description="alert VigilAuditBufferStale; 0 when the buffer is empty"),
        panel("Sealers alive", [q(f"vigil_audit_sealers_alive{{{T}}}", "{{target}}")],
              kind="stat", threshold=1, threshold_below=True, w=8,
              options={"colorMode": "background", "textMode": "value_and_name"},
              description="alert VigilAuditSealerDown at 0"),
        panel("Seal lag per sealer (< 5m)", [q(
            f"vigil_audit_seal_lag_seconds{{{T}}} and vigil_audit_sealer_up{{{T}}} == 1",
            "{{target}} {{sealer}}")], unit="s", threshold=SEAL_LAG_THRESHOLD, w=8,
              description="alive sealers only; alert VigilAuditSealLagHigh"),
        panel("Rows sealed per second", [q(
            f"sum by (target, sealer) (rate(vigil_audit_sealed_rows_total{{{T}}}"
            f"[$__rate_interval]))", "{{target}} {{sealer}}")], unit="ops", w=8),
        panel("Sealer up", [q(f"vigil_audit_sealer_up{{{T}}}", "{{target}} {{sealer}}")],
              kind="stat", threshold=1, threshold_below=True, w=8,
              options={"colorMode": "background", "textMode": "value_and_name"}),
        panel("Chain head and verified-through sequence", [
            q(f"vigil_audit_chain_head_seq{{{T}}}", "head {{target}}"),
            q(f"vigil_audit_chain_verified_through_seq{{{T}}}", "verified {{target}}")], w=12,
              description="The gap between the lines is sealed but not yet re-verified."),
        panel("Since the chain was last verified", [q(
            f"vigil_audit_chain_verified_age_seconds{{{T}}}", "{{target}}")], unit="s", w=12),
        row("Maintenance: rollups and retention (vigil db maintain)"),
        panel("Since the last maintenance run (< 1h)", [q(
            f"vigil_maintenance_last_run_age_seconds{{{T}}}", "{{target}}")],
              unit="s", threshold=MAINTENANCE_AGE_THRESHOLD, w=8,
              description="alert VigilMaintenanceNotRunning; +Inf when it never ran"),
        panel("Access rollup lag (< 2h)", [q(
            f"vigil_maintenance_rollup_lag_seconds{{{T}}}", "{{target}}")],
              unit="s", threshold=ROLLUP_LAG_THRESHOLD, w=8,
              description="alert VigilRollupLagHigh"),
        panel("Rows trimmed by retention per second", [q(
            f"sum by (target) (rate(vigil_maintenance_trimmed_rows_total{{{T}}}"
            f"[$__rate_interval]))", "{{target}}")], unit="ops", w=8),
    ]


def security() -> dict[str, Any]:
    return dashboard("vigil-security", "vigil / Security", "The runbook's SecurityMetrics: "
                     "access patterns, encryption keys, audit.", [
        panel("Access requests and failed attempts per second", [
            q(f"sum by (target) (rate(vigil_access_requests_total{{{T}}}[$__rate_interval]))",
              "requests {{target}}"),
            q(f"sum by (target) (rate(vigil_access_failed_attempts_total{{{T}}}"
              "[$__rate_interval]))", "failed {{target}}")], unit="reqps", w=12),
        panel("Failed attempts: 5m rate vs 1h baseline", [
            q(f"target:vigil_access_failed_attempts:rate5m{{{T}}}", "5m {{target}}"),
            q(f"target:vigil_access_failed_attempts:rate1h{{{T}}}", "1h {{target}}")],
            unit="reqps", threshold=0.1, w=12,
            description="A spike: 5m over 0.1/s and over 3x the previous hour."),
        panel("Failed share of requests (5m)", [q(
            f"target:vigil_access_failed_ratio:rate5m{{{T}}}", "{{target}}")],
            unit="percentunit", w=8),
        panel("Unusual access patterns", [q(f"vigil_access_unusual_patterns{{{T}}}",
                                            "{{target}}")], kind="stat", threshold=1, w=8),
        panel("Oldest active key (days)", [q(
            f"max by (target) (vigil_encryption_key_age_seconds{{{T}}}) / 86400",
            "{{target}}")], kind="stat", unit="d", w=8),
        panel("Audit coverage, gaps and integrity", [
            q(f"vigil_audit_coverage_ratio{{{T}}}", "coverage {{target}}"),
            q(f"vigil_audit_gaps{{{T}}}", "gaps {{target}}"),
            q(f"vigil_audit_integrity_issues{{{T}}}", "integrity issues {{target}}")],
            kind="stat", w=12, options={"textMode": "value_and_name"}),
        panel("Firing security alerts", [q(
            'ALERTS{alertstate="firing", kind="security"}', "{{alertname}} {{target}}")],
            kind="table", w=12, description="Empty when nothing fires."),
    ], table_metric=None)


def router() -> dict[str, Any]:
    ack = "vigil_router_time_to_ack_seconds"
    sla_panels = [
        panel(f"{sev}: time to ack p95 (1h) vs {SLA[sev] // 60} min SLA", [
            q(f'severity:vigil_router_time_to_ack_seconds:p95_rate1h{{severity="{sev}"}}',
              "p95"),
            # client_python writes le="900.0"; accept both spellings
            q(f'sum(rate({ack}_bucket{{severity="{sev}", le=~"{SLA[sev]}|{SLA[sev]}.0"}}[1d])) '
              f'/ sum(rate({ack}_count{{severity="{sev}"}}[1d]))', "acked within SLA (1d)")],
            unit="s", threshold=SLA[sev], w=6,
            description=f"Runbook Alert Levels: {sev} must be acknowledged within "
                        f"{SLA[sev] // 60} minutes.")
        for sev in SLA]
    return dashboard("vigil-router", "vigil / Router & escalation",
                     "Alert routing through the P1-P4 matrix: response times against the "
                     "runbook's SLA, escalations and notification delivery.", [
        row("Response time against the Alert Levels table"),
        *sla_panels,
        panel("SLA breaches per hour, by severity", [q(
            "sum by (severity) (increase(vigil_router_sla_breaches_total[1h]))",
            "{{severity}}")], threshold=1),
        panel("Open alerts by severity", [q("sum by (severity) (vigil_router_open_alerts)",
                                            "{{severity}}")]),
        panel("Alerts received per hour, by severity", [q(
            "sum by (severity) (increase(vigil_router_alerts_received_total[1h]))",
            "{{severity}}")]),
        row("Escalation and delivery"),
        panel("Escalation steps fired per hour", [q(
            "sum by (severity, step) (increase(vigil_router_escalations_total[1h]))",
            "{{severity}} step {{step}}")]),
        panel("Notifications per hour by outcome", [q(
            "sum by (target, channel, outcome) (increase(vigil_router_notifications_total[1h]))",
            "{{target}} via {{channel}}: {{outcome}}")]),
        panel("Notification failures (retry, dead) per hour", [q(
            'sum by (target, channel) (increase(vigil_router_notifications_total'
            '{outcome=~"retry|dead"}[1h]))', "{{target}} via {{channel}}")], threshold=1),
        panel("Outbox pending and dead-lettered", [
            q("vigil_router_outbox_pending", "pending"),
            q("vigil_router_outbox_dead", "dead")]),
        panel("Webhook request p99", [q(
            "histogram_quantile(0.99, sum by (le) "
            "(rate(vigil_router_webhook_request_duration_seconds_bucket[$__rate_interval])))",
            "p99")], unit="s", threshold=0.025),
        panel("Router scraped (up)", [q('up{job="vigil-router"}', "{{instance}}")],
              kind="stat", threshold=1, threshold_below=True),
        panel("Duplicates suppressed per hour", [q(
            "sum(increase(vigil_router_duplicates_total[1h]))", "duplicates")]),
    ], table_metric=None)


DASHBOARDS = {"overview": overview, "rls": rls, "encryption-phi": encryption_phi,
              "audit": audit, "security": security, "router": router}


def render() -> dict[str, str]:
    """file name -> JSON text, as committed."""
    return {f"vigil-{name}.json": json.dumps(build(), indent=2, sort_keys=True) + "\n"
            for name, build in DASHBOARDS.items()}


def main() -> int:
    OUT_DIR.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT_DIR / name).write_text(text)
        print(f"wrote {OUT_DIR / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
