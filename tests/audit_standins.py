"""Test support only: stand-ins for the issue #16 status functions (schemas 008 and 009),
with the exact signatures of the shared interface (BRIEF.md), each reading a small table the
test fills. The product never ships these; once the real migrations are merged,
``install(..., only_missing=True)`` leaves the real functions alone.
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
# A healthy pipeline: one live sealer keeping up, a verified chain, a recent maintenance run.
HEALTHY: dict[str, list[tuple[Any, ...]]] = {
    "buffer": [(3, 0.5, 16384)],
    "sealer": [("standin-1", True, 0.5, 0.8, 1000, 50.0, None)],
    "chain": [(1000, 990, 30.0, 0, None)],
    "maintenance": [(20.0, 60.0, 0, None)],
}


def _exists(conn: psycopg.Connection[Any], function: str) -> bool:
    row = conn.execute("SELECT to_regprocedure(%s) IS NOT NULL",
                       (f"vigil_monitor.{function}()",)).fetchone()
    return bool(row and row[0])


def install(dsn: str, *, functions: tuple[str, ...] = tuple(FUNCTIONS),
            only_missing: bool = False, rows: dict[str, list[tuple[Any, ...]]] | None = None,
            grant_to: str | None = None) -> list[str]:
    """Create the stand-ins (and fill them with ``rows``); returns the functions created."""
    made = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS vigil_monitor")
        for function in functions:
            if only_missing and _exists(conn, function):
                continue
            table, columns = FUNCTIONS[function]
            conn.execute(f"CREATE TABLE vigil_monitor.standin_{table} ({columns})")
            conn.execute(f"CREATE FUNCTION vigil_monitor.{function}() RETURNS TABLE ({columns})"
                         f" LANGUAGE sql STABLE AS 'SELECT * FROM vigil_monitor.standin_{table}'")
            if grant_to:
                conn.execute(f"GRANT SELECT ON vigil_monitor.standin_{table} TO {grant_to}")
                conn.execute(f"GRANT EXECUTE ON FUNCTION vigil_monitor.{function}() "
                             f"TO {grant_to}")
            made.append(function)
    for function in made:
        table = FUNCTIONS[function][0]
        if rows and table in rows:
            set_rows(dsn, table, rows[table])
    return made


def set_rows(dsn: str, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Replace what the stand-in ``table`` (buffer, sealer, chain, maintenance) returns."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DELETE FROM vigil_monitor.standin_{table}")
        for row in rows:
            marks = ", ".join(["%s"] * len(row))
            conn.execute(f"INSERT INTO vigil_monitor.standin_{table} VALUES ({marks})", row)
