"""Test support only: stand-ins for the issue #16 status functions (schemas 008 and 009),
with the exact signatures of docs/BRIEF's shared interface, reading from a small table the
test sets. The product never ships these; the real functions replace them after the merge.
"""

from __future__ import annotations

from typing import Any

import psycopg

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS vigil_monitor;
CREATE TABLE vigil_monitor.standin_buffer (rows_waiting bigint, oldest_waiting_seconds float8,
                                           size_bytes bigint);
CREATE TABLE vigil_monitor.standin_sealer (sealer_id text, alive boolean,
    heartbeat_age_seconds float8, seal_lag_seconds float8, rows_sealed_total bigint,
    rows_per_second float8, last_error text);
CREATE TABLE vigil_monitor.standin_chain (head_seq bigint, verified_through_seq bigint,
    verified_age_seconds float8, integrity_issues bigint, first_broken_seq bigint);
CREATE TABLE vigil_monitor.standin_maintenance (last_run_age_seconds float8,
    rollup_lag_seconds float8, rows_trimmed_total bigint, last_error text);
CREATE FUNCTION vigil_monitor.audit_buffer_status() RETURNS TABLE (rows_waiting bigint,
    oldest_waiting_seconds float8, size_bytes bigint)
    LANGUAGE sql STABLE AS 'SELECT * FROM vigil_monitor.standin_buffer';
CREATE FUNCTION vigil_monitor.audit_sealer_status() RETURNS TABLE (sealer_id text,
    alive boolean, heartbeat_age_seconds float8, seal_lag_seconds float8,
    rows_sealed_total bigint, rows_per_second float8, last_error text)
    LANGUAGE sql STABLE AS 'SELECT * FROM vigil_monitor.standin_sealer';
CREATE FUNCTION vigil_monitor.audit_chain_status() RETURNS TABLE (head_seq bigint,
    verified_through_seq bigint, verified_age_seconds float8, integrity_issues bigint,
    first_broken_seq bigint)
    LANGUAGE sql STABLE AS 'SELECT * FROM vigil_monitor.standin_chain';
"""

MAINTENANCE = """
CREATE FUNCTION vigil_monitor.maintenance_status() RETURNS TABLE (last_run_age_seconds float8,
    rollup_lag_seconds float8, rows_trimmed_total bigint, last_error text)
    LANGUAGE sql STABLE AS 'SELECT * FROM vigil_monitor.standin_maintenance';
"""


def install(dsn: str, *, maintenance: bool = True) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        if maintenance:
            conn.execute(MAINTENANCE)


def set_rows(dsn: str, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Replace what the stand-in ``table`` (buffer, sealer, chain, maintenance) returns."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DELETE FROM vigil_monitor.standin_{table}")
        for row in rows:
            marks = ", ".join(["%s"] * len(row))
            conn.execute(f"INSERT INTO vigil_monitor.standin_{table} VALUES ({marks})", row)
