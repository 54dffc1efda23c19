"""Fakes of the issue #16 status functions (schemas 008 and 009) for the exporter's
collector tests: the exact signatures of the shared interface (BRIEF.md), each reading a small
table the test fills, so a test can set any value the real functions could return (a dead
sealer, an error class, a never-run maintainer) in a database without the vigil schema.
The live stacks run the real sealer and maintainer instead.
"""

from __future__ import annotations

from typing import Any

import psycopg

# function -> (stand-in table name, its columns and types = the function's RETURNS TABLE)
FUNCTIONS: dict[str, tuple[str, str]] = {
    "audit_buffer_status": ("buffer", "rows_waiting bigint, oldest_waiting_seconds float8, "
                                      "size_bytes bigint"),
    "audit_sealer_status": ("sealer", "sealer_id text, alive boolean, "
                                      "heartbeat_age_seconds float8, seal_lag_seconds float8, "
                                      "rows_sealed_total bigint, rows_per_second float8, "
                                      "last_error text"),
    "audit_chain_status": ("chain", "head_seq bigint, verified_through_seq bigint, "
                                    "verified_age_seconds float8, integrity_issues bigint, "
                                    "first_broken_seq bigint"),
    "maintenance_status": ("maintenance", "last_run_age_seconds float8, "
                                          "rollup_lag_seconds float8, rows_trimmed_total bigint, "
                                          "last_error text"),
}


def install(dsn: str, *, functions: tuple[str, ...] = tuple(FUNCTIONS)) -> None:
    """Create the fakes, each returning no rows until ``set_rows``."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS vigil_monitor")
        for function in functions:
            table, columns = FUNCTIONS[function]
            conn.execute(f"CREATE TABLE vigil_monitor.standin_{table} ({columns})")
            conn.execute(f"CREATE FUNCTION vigil_monitor.{function}() RETURNS TABLE ({columns})"
                         f" LANGUAGE sql STABLE AS 'SELECT * FROM vigil_monitor.standin_{table}'")


def set_rows(dsn: str, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Replace what the fake ``table`` (buffer, sealer, chain, maintenance) returns."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DELETE FROM vigil_monitor.standin_{table}")
        for row in rows:
            marks = ", ".join(["%s"] * len(row))
            conn.execute(f"INSERT INTO vigil_monitor.standin_{table} VALUES ({marks})", row)
