"""The contract objects of ``vigil_monitor`` (docs/CONTRACTS.md) and their columns."""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA = "vigil_monitor"
PROBE_RLS_ROLE = "vigil_probe_rls"
PROBE_BYPASS_ROLE = "vigil_probe_bypass"
DEFAULT_EXPORTER_ROLE = "vigil_exporter"
# Runs `vigil db maintain`: may execute the maintenance functions and nothing else.
DEFAULT_MAINTAINER_ROLE = "vigil_maintainer"
DEFAULT_SEALER_ROLE = "vigil_sealer"


@dataclass(frozen=True)
class ContractObject:
    name: str
    kind: str  # "function" | "table" | "view"
    signature: str  # argument types for to_regprocedure; "" for relations
    columns: tuple[str, ...]
    # A cheap call that returns the columns (LIMIT 0 never runs the RLS probe loop).
    probe_sql: str


def _fn(name: str, sig: str, cols: str, call: str = "()") -> ContractObject:
    return ContractObject(name, "function", sig, tuple(cols.split()),
                          f"SELECT * FROM {SCHEMA}.{name}{call} LIMIT 0")


def _rel(name: str, kind: str, cols: str) -> ContractObject:
    quoted = ", ".join(f'"{c}"' for c in cols.split())
    return ContractObject(name, kind, "", tuple(cols.split()),
                          f"SELECT {quoted} FROM {SCHEMA}.{name} LIMIT 0")


CONTRACT: tuple[ContractObject, ...] = (
    _fn("monitor_rls_overhead", "integer, integer",
        "schema_name table_name policies avg_overhead_ms samples measured_at error", "(1, 0)"),
    _fn("monitor_rls_performance", "",
        "schema_name table_name policy_name command permissive roles using_expr check_expr "
        "uses_tenant_setting has_subquery seq_scan idx_scan live_rows"),
    _fn("monitor_encryption_performance", "bigint, integer, bigint, bigint, bigint",
        "id ts operation key_id duration_ms success txid"),
    _rel("audit_write_metrics", "table",
         "id timestamp duration table_name operation txid schema_name relname"),
    _rel("phi_access_patterns", "table",
         "id accessed_at table_name tenant_id actor_id operation duration_ms row_count txid "
         "schema_name relname"),
    _fn("security_access_metrics", "", "total_requests failed_attempts unusual_patterns"),
    _fn("security_encryption_metrics", "", "key_id key_age_seconds active"),
    _fn("security_encryption_status", "",
        "failed_operations reencryption_status reencryption_progress"),
    _fn("security_audit_metrics", "",
        "coverage_ratio phi_tables audited_tables gaps integrity_issues first_broken_id"),
    _fn("verify_audit_chain", "bigint", "checked first_broken_id reason"),
    _rel("unused_indexes", "view",
         "schema_name table_name index_name index_size_bytes idx_scan is_unique"),
    _fn("settled_horizon", "", "settled_horizon"),
    _fn("audit_buffer_status", "", "rows_waiting oldest_waiting_seconds size_bytes"),
    _fn("audit_sealer_status", "",
        "sealer_id alive heartbeat_age_seconds seal_lag_seconds rows_sealed_total "
        "rows_per_second last_error"),
    _fn("audit_chain_status", "",
        "head_seq verified_through_seq verified_age_seconds integrity_issues first_broken_seq"),
    _fn("maintenance_status", "",
        "last_run_age_seconds rollup_lag_seconds rows_trimmed_total last_error"),
    _fn("control_status", "",
        "schema_name table_name phi rls_enabled rls_forced rls_disabled force_removed "
        "policy_changes policy_issues audit_trigger_enabled unaudited_writes"),
    _fn("contained_write_refusals", "",
        "containment_id kind target incident_id active refused_writes"),
)

# Functions the monitoring role may execute (read side); everything else stays private.
READ_FUNCTIONS: tuple[str, ...] = (
    "setting(text)",
    "monitor_rls_overhead(integer, integer)",
    "monitor_rls_performance()",
    "monitor_encryption_performance(bigint, integer, bigint, bigint, bigint)",
    "settled_horizon()",
    "unusual_access_patterns()",
    "unusual_access_patterns_at(timestamptz)",
    "access_bucket(timestamptz)",
    "encryption_failed_total()",
    "maintenance_status()",
    "security_access_metrics()",
    "security_encryption_metrics()",
    "security_encryption_status()",
    "security_audit_metrics()",
    "verify_audit_chain(bigint)",
    "audit_integrity_issues()",
    "audit_buffer_status()",
    "audit_sealer_status()",
    "audit_chain_status()",
    "audit_tripwire_issues()",
    "control_status()",  # SECURITY DEFINER (012): no grant on the baseline tables needed
    "contained_write_refusals()",  # SECURITY DEFINER (020): containments stay closed
    "audit_row_hash(bigint, timestamptz, text, text, text, text, text, text[], text)",
    # 011: the probes run as the probe roles through these (the login is no member of them).
    "probe_run_rls(regclass)",
    "probe_run_bypass(regclass)",
    "isolation_tenants(regclass, integer)",
    "isolation_leaks(regclass, text)",
    "tenant_column_of(text, text)",
)
# Tables without PHI (identifiers and timings only) that the read functions scan.
READ_TABLES: tuple[str, ...] = (
    "schema_version", "settings", "rls_probe_queries", "phi_columns", "audit_log",
    "audit_write_metrics", "phi_access_patterns", "access_log", "encryption_ops",
    "encryption_keys", "reencryption_jobs", "unused_indexes", "rollup_state", "access_rollup",
    "maintenance_state", "tenant_columns", "probe_columns",
)
# SECURITY DEFINER maintenance entry points (`vigil db maintain`), for the maintainer role only.
MAINTAIN_FUNCTIONS: tuple[str, ...] = (
    "maintain_rollup(text, integer)",
    "maintain_trim(text, integer)",
    "maintain_record_run(text)",
    "controls_fold(integer)",
    "maintenance_status()",
)
# What the sealer (`vigil audit seal`) needs, and nothing else: read and delete sealed buffer
# rows, append to the chain, keep its heartbeat and the verifier's verdict.
SEALER_TABLE_GRANTS: tuple[tuple[str, str], ...] = (
    ("audit_buffer", "SELECT, DELETE"),
    ("audit_log", "SELECT, INSERT"),
    ("audit_tamper_log", "SELECT"),
    ("audit_sealer_state", "SELECT, INSERT, UPDATE"),
    ("audit_verify_state", "SELECT, INSERT, UPDATE"),
)
SEALER_FUNCTIONS: tuple[str, ...] = ("audit_settled_horizon()",)
# SECURITY DEFINER entry points for the application role.
APP_FUNCTIONS: tuple[str, ...] = (
    "record_access(text, text, boolean, text)",
    "record_phi_access(text, text, double precision, integer)",
    "record_encryption_op(text, text, double precision, boolean)",
    "register_encryption_key(text, boolean)",
    "start_reencryption(text, text, bigint)",
    "record_reencryption_progress(bigint, bigint, boolean)",
    "current_actor()",
)
# Admin only (`vigil db phi|audit|tenant-column|probe`): they run as the schema owner and put
# triggers on tables, so neither PUBLIC nor the application may execute them (migration 011).
ADMIN_FUNCTIONS: tuple[str, ...] = (
    "enable_audit(regclass, text)",
    "disable_audit(regclass)",
    "register_phi_column(regclass, text)",
    "unregister_phi_column(regclass, text)",
    "register_tenant_column(regclass, text)",
    "refresh_probe_grants()",
)
