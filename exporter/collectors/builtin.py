"""The built-in collectors, written as plain CollectorSpecs over the vigil_monitor schema.

Every object read here is listed in docs/CONTRACTS.md and installed by ``vigil db install``.
"""

from __future__ import annotations

from exporter.collectors.spec import CollectorSpec, MetricSpec, MetricType, QuerySpec
from exporter.config import BUILTIN_COLLECTORS, ExporterConfig

S = "vigil_monitor"
# One layout for the three latency histograms (audit writes, PHI queries, encryption). It
# resolves the normal range (0.1 ms up: a healthy audit write or decrypt is sub-millisecond)
# with neighbouring bounds at most 1.7x apart up to 250 ms, so an interpolated p95 of 1.6 ms
# reads 1.5-2 ms, not 4.75 ms; the runbook thresholds (10 ms audit, 100 ms PHI and encryption)
# are bounds themselves, so "p95 > threshold" is exact; and it reaches 5 s for the faults.
# 25 buckets per series: series are per table or per operation, a handful each.
LATENCY_BUCKETS = (.0001, .00015, .0002, .0003, .0005, .00075, .001, .0015, .002, .003, .005,
                   .0075, .01, .015, .02, .03, .05, .075, .1, .15, .25, .5, 1.0, 2.5, 5.0)
REENCRYPTION_STATES = ("idle", "in_progress", "stalled", "complete")
ERROR_CLASS = "^[A-Za-z0-9_.]{1,64}$"  # an exception class name or a SQLSTATE
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
    "audit_pipeline": (15.0, 5.0, 1.0),   # buffer, sealers, chain: O(1) status functions
    "maintenance": (60.0, 5.0, 1.0),      # rollups/retention run minutes apart
    "controls": (15.0, 5.0, 1.0),         # control_status(): O(catalog) + unfolded tail
}


def _per_row(sql: str, metric: str, *, what: str, source: str, labels: tuple[str, ...],
             table: str, cap: int) -> tuple[QuerySpec, ...]:
    """A latency histogram with one observation per settled row of ``source``, resumed from
    the watermark (``state.py``); a first start begins at the table's current max id."""
    return (QuerySpec(
        sql, (MetricSpec(metric, "histogram", f"{what}, one observation per row of {source}.",
                         labels=labels, buckets=LATENCY_BUCKETS, watermark="id",
                         max_series=cap),),
        start_sql=f"SELECT coalesce(max(id), 0) FROM {S}.{table}", settled=True),)


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
        return _per_row(
            f"SELECT txid, id, operation, duration_ms / 1000.0 AS value FROM "
            f"{S}.monitor_encryption_performance(%(since_id)s, %(batch)s, %(after_txid)s, "
            f"%(after_id)s, %(horizon)s) ORDER BY txid, id",
            "vigil_encryption_duration_seconds",
            what="Duration of pgcrypto encrypt/decrypt operations",
            source="vigil_monitor.monitor_encryption_performance()", labels=("operation",),
            table="encryption_ops", cap=cap)
    if name == "audit":
        return _per_row(
            f'SELECT txid, id, {TABLE_LABELS}, '
            f"extract(epoch FROM duration)::float8 AS value "
            f"FROM {S}.audit_write_metrics WHERE {SETTLED}",
            "vigil_audit_write_duration_seconds", what="Time taken by each audit-log write",
            source="vigil_monitor.audit_write_metrics", labels=("schema", "table"),
            table="audit_write_metrics", cap=cap)
    if name == "phi":
        tenant = cfg.privacy.tenant_labels
        return _per_row(
            f'SELECT txid, id, {TABLE_LABELS}, {"tenant_id AS tenant, " if tenant else ""}'
            f"duration_ms / 1000.0 AS value FROM {S}.phi_access_patterns WHERE {SETTLED}",
            "vigil_phi_query_duration_seconds",
            what="Duration of queries that touched PHI tables",
            source="vigil_monitor.phi_access_patterns",
            labels=("schema", "table", "tenant") if tenant else ("schema", "table"),
            table="phi_access_patterns", cap=cap)
    if name == "security":
        return (
            QuerySpec(
                f"SELECT total_requests, failed_attempts, unusual_patterns "
                f"FROM {S}.security_access_metrics()",
                (MetricSpec("vigil_access_requests_total", "counter",
                            "Access attempts recorded by record_access(), counted "
                            "incrementally (maintenance rollup + unrolled tail, kept across "
                            "retention), from vigil_monitor.security_access_metrics().",
                            value="total_requests"),
                 MetricSpec("vigil_access_failed_attempts_total", "counter",
                            "Denied access attempts (RLS or privilege), counted like "
                            "vigil_access_requests_total, from "
                            "vigil_monitor.security_access_metrics().", value="failed_attempts"),
                 MetricSpec("vigil_access_unusual_patterns", "gauge",
                            "Access patterns currently flagged unusual, from "
                            "vigil_monitor.security_access_metrics().",
                            value="unusual_patterns"))),
            # Schema 020: a refused INSERT rolls its access_log row back, so the failed
            # attempts above never see it; the containments' counters do. One series, no
            # actor or containment label (the access counters have none either).
            QuerySpec(
                f"SELECT coalesce(sum(refused_writes), 0) AS value "
                f"FROM {S}.contained_write_refusals()",
                (MetricSpec("vigil_contained_write_refusals_total", "counter",
                            "Writes (INSERTs) refused to contained actors, over every actor "
                            "containment, active and released, from "
                            "vigil_monitor.contained_write_refusals(); not in "
                            "vigil_access_failed_attempts_total (the refusal's rollback "
                            "takes its access_log row)."),)),
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
            _gauges("security_audit_metrics", (
                ("vigil_audit_coverage_ratio", "coverage_ratio",
                 "Share of PHI tables with an audit trigger"),
                ("vigil_audit_gaps", "gaps",
                 "Missing (PHI table, trigger event) pairs: INSERT, UPDATE or DELETE of a PHI "
                 "table without an enabled audit trigger"),
                ("vigil_audit_integrity_issues", "integrity_issues",
                 "Audit rows whose hash chain does not verify"),
                ("vigil_audit_first_broken_row_id",
                 "coalesce(first_broken_id, 0) AS first_broken_id",
                 "Id of the first audit row whose hash chain breaks (0: none)"))),
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
    if name == "audit_pipeline":
        return _audit_pipeline(cap)
    if name == "maintenance":
        return _maintenance()
    if name == "controls":
        return _controls(cap)
    raise KeyError(name)


def _gauges(function: str, columns: tuple[tuple[str, str, str], ...]) -> QuerySpec:
    """One row of ``vigil_monitor.FUNCTION()``, a gauge per (metric, column, what it is); a
    column may be ``expression AS name``."""
    return QuerySpec(
        f"SELECT {', '.join(column for _, column, _ in columns)} FROM {S}.{function}()",
        tuple(MetricSpec(name, "gauge", f"{what}, from vigil_monitor.{function}().",
                         value=column.rsplit(" AS ", 1)[-1]) for name, column, what in columns))


# Per sealer, from vigil_monitor.audit_sealer_status(): (metric, type, column, meaning).
_SEALER_METRICS: tuple[tuple[str, MetricType, str, str], ...] = (
    ("vigil_audit_sealer_up", "gauge", "up", "1 if the sealer's heartbeat is fresh, 0 if not"),
    ("vigil_audit_sealer_heartbeat_age_seconds", "gauge", "heartbeat_age_seconds",
     "Seconds since the sealer's last heartbeat"),
    ("vigil_audit_seal_lag_seconds", "gauge", "seal_lag_seconds",
     "How far behind the buffer the sealer's chain is"),
    ("vigil_audit_sealed_rows_total", "counter", "rows_sealed_total",
     "Audit rows the sealer has chained"),
)


def _audit_pipeline(cap: int) -> tuple[QuerySpec, ...]:
    """Schema 008 (issue #16): the audit buffer, the sealers that chain it, the verifier."""
    # One row per sealer that ever ran: alive ones first, so the cap drops the long-dead.
    sealers = f"FROM {S}.audit_sealer_status() ORDER BY alive DESC, heartbeat_age_seconds"
    return (
        _gauges("audit_buffer_status", (
            ("vigil_audit_buffer_rows", "rows_waiting",
             "Audit rows written but not yet sealed into the chain"),
            ("vigil_audit_buffer_oldest_age_seconds", "oldest_waiting_seconds",
             "Age of the oldest unsealed audit row (0: buffer empty)"),
            ("vigil_audit_buffer_size_bytes", "size_bytes", "On-disk size of the audit buffer"))),
        # Always one row, also with no sealer at all: "no sealer alive" needs a 0, not absence.
        QuerySpec(
            f"SELECT count(*) FILTER (WHERE alive) AS value FROM {S}.audit_sealer_status()",
            (MetricSpec("vigil_audit_sealers_alive", "gauge",
                        "Sealers with a fresh heartbeat, from "
                        "vigil_monitor.audit_sealer_status()."),)),
        QuerySpec(
            f"SELECT sealer_id AS sealer, alive::int AS up, heartbeat_age_seconds, "
            f"seal_lag_seconds, rows_sealed_total {sealers}",
            tuple(MetricSpec(name, kind, f"{what}, from vigil_monitor.audit_sealer_status().",
                             value=column, labels=("sealer",), max_series=cap)
                  for name, kind, column, what in _SEALER_METRICS)),
        # last_error is an error class or SQLSTATE by contract; anything else (a message that
        # could hold values) is exported as "other", so the label stays bounded and clean.
        QuerySpec(
            f"SELECT sealer_id AS sealer, CASE WHEN last_error ~ '{ERROR_CLASS}' "
            f"THEN last_error ELSE 'other' END AS error, 1 AS value "
            f"FROM (SELECT * {sealers}) s WHERE last_error IS NOT NULL AND last_error <> ''",
            (MetricSpec("vigil_audit_sealer_last_error_info", "gauge",
                        "The error class (or SQLSTATE) of the sealer's last failure, from "
                        "vigil_monitor.audit_sealer_status(); absent when it has none.",
                        labels=("sealer", "error"), max_series=cap),)),
        _gauges("audit_chain_status", (
            ("vigil_audit_chain_head_seq", "head_seq",
             "Sequence number of the last sealed audit row"),
            ("vigil_audit_chain_verified_through_seq", "verified_through_seq",
             "The chain verifies up to this sequence number"),
            ("vigil_audit_chain_verified_age_seconds", "verified_age_seconds",
             "Seconds since the chain was last verified"))),
    )


def _maintenance() -> tuple[QuerySpec, ...]:
    """Schema 009 (issue #16): ``vigil db maintain``'s rollups and retention."""
    # A maintainer that never ran is infinitely late (+Inf), so the alert fires on a fresh
    # install without one instead of the series being absent.
    return (QuerySpec(
        f"SELECT coalesce(m.last_run_age_seconds, 'Infinity') AS last_run_age_seconds, "
        f"coalesce(m.rollup_lag_seconds, 'Infinity') AS rollup_lag_seconds, "
        f"coalesce(m.rows_trimmed_total, 0) AS rows_trimmed_total "
        f"FROM (SELECT 1) AS one LEFT JOIN {S}.maintenance_status() AS m ON true",
        (MetricSpec("vigil_maintenance_last_run_age_seconds", "gauge",
                    "Seconds since `vigil db maintain` last finished a run (+Inf: never), "
                    "from vigil_monitor.maintenance_status().", value="last_run_age_seconds"),
         MetricSpec("vigil_maintenance_rollup_lag_seconds", "gauge",
                    "How far the access rollups are behind the raw rows (+Inf: never "
                    "rolled up), from vigil_monitor.maintenance_status().",
                    value="rollup_lag_seconds"),
         MetricSpec("vigil_maintenance_trimmed_rows_total", "counter",
                    "Rows removed by retention, from vigil_monitor.maintenance_status().",
                    value="rows_trimmed_total"))),)


def _controls(cap: int) -> tuple[QuerySpec, ...]:
    """Schema 012 (issue #9): the controls themselves, per monitored table, against the
    approved baseline (`vigil db baseline approve`)."""
    # Tables with a change first, so the cap drops unchanged ones.
    src = (f"FROM {S}.control_status() ORDER BY (rls_disabled OR force_removed "
           f"OR policy_changes > 0 OR audit_trigger_enabled IS FALSE "
           f"OR coalesce(unaudited_writes, 0) > 0) DESC, schema_name, table_name")
    labels = ("schema", "table")
    cols = 'SELECT schema_name AS schema, table_name AS "table", '

    def m(name: str, help_: str, value: str) -> MetricSpec:
        return MetricSpec(name, "gauge", help_ + " From vigil_monitor.control_status().",
                          value=value, labels=labels, max_series=cap)

    return (
        QuerySpec(
            cols + "rls_enabled::int AS rls_enabled, rls_forced::int AS rls_forced, "
            "rls_disabled::int AS rls_disabled, force_removed::int AS force_removed, "
            "policy_changes " + src,
            (m("vigil_control_rls_enabled", "1 if row level security is enabled on the "
               "monitored table, 0 if not.", "rls_enabled"),
             m("vigil_control_rls_forced", "1 if row level security is forced (applies to the "
               "table owner too), 0 if not.", "rls_forced"),
             m("vigil_control_rls_disabled", "1 if row level security was enabled in the "
               "approved baseline and is off now.", "rls_disabled"),
             m("vigil_control_rls_force_removed", "1 if FORCE row level security was on in "
               "the approved baseline and is off now.", "force_removed"),
             m("vigil_control_policy_changes", "Policies of the table dropped or changed since "
               "the approved baseline, plus permissive policies added.", "policy_changes"))),
        QuerySpec(
            cols + "audit_trigger_enabled::int AS value "
            + src.replace("ORDER BY", "WHERE audit_trigger_enabled IS NOT NULL ORDER BY"),
            (m("vigil_control_audit_trigger_enabled", "1 if the table's audit trigger fires "
               "for INSERT, UPDATE and DELETE in normal sessions, 0 if it is disabled or "
               "gone; tables that never had one have no series.", "value"),)),
        QuerySpec(
            cols + "unaudited_writes AS value "
            + src.replace("ORDER BY", "WHERE unaudited_writes IS NOT NULL ORDER BY"),
            (m("vigil_control_unaudited_writes", "Writes to the PHI table since the approved "
               "baseline that pg_stat_user_tables counts but the audit trigger did not "
               "record (disabled trigger, session_replication_role = replica, or rolled "
               "back).", "value"),)),
    )


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
