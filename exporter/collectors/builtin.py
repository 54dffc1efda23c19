"""The six built-in collectors, written as plain CollectorSpecs over the vigil_monitor schema.

Every object read here is listed in docs/CONTRACTS.md and installed by ``vigil db install``.
"""

from __future__ import annotations

from exporter.collectors.spec import CollectorSpec, MetricSpec, QuerySpec
from exporter.config import BUILTIN_COLLECTORS, ExporterConfig

S = "vigil_monitor"
AUDIT_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0)
SLOW_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0)
REENCRYPTION_STATES = ("idle", "in_progress", "stalled", "complete")
# The settled watermark (collectors/run.py): rows of finished transactions only, in
# (writing transaction, id) order, served by the (txid, id) indexes.
SETTLED = ("(txid, id) > (%(after_txid)s, %(after_id)s) AND txid < %(horizon)s "
           "AND id > %(since_id)s ORDER BY txid, id LIMIT %(batch)s")

# Plain catalog names (schema 007), as vigil_rls_overhead_seconds has them: schema="public",
# table="Deal", never the quoted table_name 'public."Deal"'.
TABLE_LABELS = 'schema_name AS schema, coalesce(relname, table_name) AS "table"'

# name: (interval, timeout, lock_timeout) defaults
DEFAULTS: dict[str, tuple[float, float, float]] = {
    "rls": (60.0, 10.0, 1.0),         # monitor_rls_overhead measures, within a 2 s budget
    "encryption": (60.0, 5.0, 1.0),
    "audit": (15.0, 5.0, 1.0),
    "phi": (15.0, 5.0, 1.0),
    "security": (60.0, 10.0, 1.0),    # includes the audit hash-chain check
    "indexes": (300.0, 5.0, 1.0),
}


def _queries(name: str, cfg: ExporterConfig) -> tuple[QuerySpec, ...]:
    cap = cfg.settings(name).max_series or cfg.limits.max_series_per_metric
    if name == "rls":
        return (QuerySpec(
            f'SELECT schema_name AS schema, table_name AS "table", error, '
            f"avg_overhead_ms / 1000.0 AS value FROM {S}.monitor_rls_overhead()",
            (MetricSpec("vigil_rls_overhead_seconds", "gauge",
                        "Average extra time a query spends on row-level-security policies, "
                        "per table, measured by vigil_monitor.monitor_rls_overhead().",
                        labels=("schema", "table"), max_series=cap),),
            error_column="error"),)  # migration 010
    if name == "encryption":
        return (QuerySpec(
            f"SELECT txid, id, operation, duration_ms / 1000.0 AS value FROM "
            f"{S}.monitor_encryption_performance(%(since_id)s, %(batch)s, %(after_txid)s, "
            f"%(after_id)s, %(horizon)s) ORDER BY txid, id",
            (MetricSpec("vigil_encryption_duration_seconds", "histogram",
                        "Duration of pgcrypto encrypt/decrypt operations, one observation per "
                        "row of vigil_monitor.monitor_encryption_performance().",
                        labels=("operation",), buckets=SLOW_BUCKETS, watermark="id",
                        max_series=cap),),
            start_sql=f"SELECT coalesce(max(id), 0) FROM {S}.encryption_ops", settled=True),)
    if name == "audit":
        return (QuerySpec(
            f'SELECT txid, id, {TABLE_LABELS}, '
            f"extract(epoch FROM duration)::float8 AS value "
            f"FROM {S}.audit_write_metrics WHERE {SETTLED}",
            (MetricSpec("vigil_audit_write_duration_seconds", "histogram",
                        "Time taken by each audit-log write, one observation per row of "
                        "vigil_monitor.audit_write_metrics.",
                        labels=("schema", "table"), buckets=AUDIT_BUCKETS, watermark="id",
                        max_series=cap),),
            start_sql=f"SELECT coalesce(max(id), 0) FROM {S}.audit_write_metrics",
            settled=True),)
    if name == "phi":
        tenant = cfg.privacy.tenant_labels
        return (QuerySpec(
            f'SELECT txid, id, {TABLE_LABELS}, {"tenant_id AS tenant, " if tenant else ""}'
            f"duration_ms / 1000.0 AS value FROM {S}.phi_access_patterns WHERE {SETTLED}",
            (MetricSpec("vigil_phi_query_duration_seconds", "histogram",
                        "Duration of queries that touched PHI tables, one observation per row "
                        "of vigil_monitor.phi_access_patterns.",
                        labels=("schema", "table", "tenant") if tenant else ("schema", "table"),
                        buckets=SLOW_BUCKETS, watermark="id", max_series=cap),),
            start_sql=f"SELECT coalesce(max(id), 0) FROM {S}.phi_access_patterns",
            settled=True),)
    if name == "security":
        return (
            QuerySpec(
                f"SELECT total_requests, failed_attempts, unusual_patterns "
                f"FROM {S}.security_access_metrics()",
                (MetricSpec("vigil_access_requests_total", "counter",
                            "Requests to PHI tables since the audit began, from "
                            "vigil_monitor.security_access_metrics().", value="total_requests"),
                 MetricSpec("vigil_access_failed_attempts_total", "counter",
                            "Denied access attempts (RLS or privilege), from "
                            "vigil_monitor.security_access_metrics().", value="failed_attempts"),
                 MetricSpec("vigil_access_unusual_patterns", "gauge",
                            "Access patterns currently flagged unusual, from "
                            "vigil_monitor.security_access_metrics().",
                            value="unusual_patterns"))),
            QuerySpec(
                f"SELECT key_id AS key, key_age_seconds AS value "
                f"FROM {S}.security_encryption_metrics() WHERE active",
                (MetricSpec("vigil_encryption_key_age_seconds", "gauge",
                            "Age of each active encryption key, from "
                            "vigil_monitor.security_encryption_metrics().",
                            labels=("key",), max_series=cap),)),
            QuerySpec(
                f"SELECT failed_operations, reencryption_status, reencryption_progress "
                f"FROM {S}.security_encryption_status()",
                (MetricSpec("vigil_encryption_failed_operations_total", "counter",
                            "Failed encrypt/decrypt operations, from "
                            "vigil_monitor.security_encryption_status().",
                            value="failed_operations"),
                 MetricSpec("vigil_encryption_reencryption_status", "stateset",
                            "Re-encryption job state (1 for the current state), from "
                            "vigil_monitor.security_encryption_status().",
                            value="reencryption_status", states=REENCRYPTION_STATES),
                 MetricSpec("vigil_encryption_reencryption_progress_ratio", "gauge",
                            "Fraction of rows re-encrypted under the current key, from "
                            "vigil_monitor.security_encryption_status().",
                            value="reencryption_progress"))),
            QuerySpec(
                f"SELECT coverage_ratio, gaps, integrity_issues, "
                f"coalesce(first_broken_id, 0) AS first_broken_id "
                f"FROM {S}.security_audit_metrics()",
                (MetricSpec("vigil_audit_coverage_ratio", "gauge",
                            "Share of PHI tables with an audit trigger, from "
                            "vigil_monitor.security_audit_metrics().", value="coverage_ratio"),
                 MetricSpec("vigil_audit_gaps", "gauge",
                            "Missing ids in the audit log sequence, from "
                            "vigil_monitor.security_audit_metrics().", value="gaps"),
                 MetricSpec("vigil_audit_integrity_issues", "gauge",
                            "Audit rows whose hash chain does not verify, from "
                            "vigil_monitor.security_audit_metrics().",
                            value="integrity_issues"),
                 MetricSpec("vigil_audit_first_broken_row_id", "gauge",
                            "Id of the first audit row whose hash chain breaks (0: none), "
                            "from vigil_monitor.security_audit_metrics().",
                            value="first_broken_id"))),
        )
    if name == "indexes":
        return (
            QuerySpec(f"SELECT count(*) AS value FROM {S}.unused_indexes",
                      (MetricSpec("vigil_unused_indexes", "gauge",
                                  "Indexes never scanned since statistics were reset "
                                  "(idx_scan = 0), from vigil_monitor.unused_indexes."),)),
            QuerySpec(
                f'SELECT schema_name AS schema, table_name AS "table", index_name AS index, '
                f"1 AS value FROM {S}.unused_indexes "
                f"ORDER BY index_size_bytes DESC, schema_name, table_name, index_name",
                (MetricSpec("vigil_unused_index_info", "gauge",
                            "One series per unused index, largest first, capped at "
                            "limits.unused_index_info_max_series; from "
                            "vigil_monitor.unused_indexes.",
                            labels=("schema", "table", "index"),
                            max_series=cfg.limits.unused_index_info_max_series),)),
        )
    raise KeyError(name)


def builtin_specs(cfg: ExporterConfig) -> list[CollectorSpec]:
    specs = []
    for name in BUILTIN_COLLECTORS:
        s = cfg.settings(name)
        if not s.enabled:
            continue
        interval, timeout, lock_timeout = DEFAULTS[name]
        specs.append(CollectorSpec(
            name=name, interval=_or(s.interval, interval), timeout=_or(s.timeout, timeout),
            lock_timeout=_or(s.lock_timeout, lock_timeout), queries=_queries(name, cfg),
            builtin=True))
    return specs


def _or(value: float | None, default: float) -> float:
    """The setting, or the default when left out (0 is rejected by the config check)."""
    return default if value is None else value
