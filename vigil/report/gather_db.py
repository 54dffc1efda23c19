"""What the monitored database says about the day: access review, audit chain, keys.

Only ids and counts leave the database: tenant and actor ids, table names, numbers. Free
text columns (``access_log.resource``/``reason``) and row data are never selected, because
they may carry PHI.

Reading one day of ``access_log``/``phi_access_patterns`` is a range scan on their time
index: O(the day's rows), once a day, not O(history).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.rows import dict_row

from vigil.core import pg
from vigil.report.errors import ReportError
from vigil.report.window import Day

TOP = 20
# Off hours for PHI access (UTC): before 07:00 or from 19:00 on, and weekends.
BUSINESS_HOURS = (7, 19)

_BY_TENANT_ACTOR = """
SELECT coalesce(tenant_id, '') AS tenant, actor_id AS actor,
       count(*) AS requests, count(*) FILTER (WHERE NOT success) AS failed
  FROM vigil_monitor.access_log
 WHERE ts >= %(lo)s AND ts < %(hi)s
 GROUP BY 1, 2 ORDER BY requests DESC, tenant, actor LIMIT %(top)s
"""
_TOTALS = """
SELECT count(*) AS requests, count(*) FILTER (WHERE NOT success) AS failed,
       count(DISTINCT actor_id) AS actors, count(DISTINCT tenant_id) AS tenants
  FROM vigil_monitor.access_log WHERE ts >= %(lo)s AND ts < %(hi)s
"""
_PHI_READERS = """
SELECT actor_id AS actor, sum(row_count) AS rows_read, count(*) AS queries
  FROM vigil_monitor.phi_access_patterns
 WHERE accessed_at >= %(lo)s AND accessed_at < %(hi)s
 GROUP BY 1 ORDER BY rows_read DESC, actor LIMIT %(top)s
"""
_OFF_HOURS = """
SELECT actor_id AS actor, table_name AS "table", count(*) AS queries,
       sum(row_count) AS rows_read
  FROM vigil_monitor.phi_access_patterns
 WHERE accessed_at >= %(lo)s AND accessed_at < %(hi)s
   AND (extract(hour FROM accessed_at AT TIME ZONE 'UTC') < %(open)s
        OR extract(hour FROM accessed_at AT TIME ZONE 'UTC') >= %(close)s
        OR extract(isodow FROM accessed_at AT TIME ZONE 'UTC') > 5)
 GROUP BY 1, 2 ORDER BY queries DESC, actor, "table" LIMIT %(top)s
"""
_UNUSUAL = """
SELECT actor_id AS actor, window_requests, window_failed, baseline_per_window, rule
  FROM vigil_monitor.unusual_access_patterns_at(%(hi)s) ORDER BY actor LIMIT %(top)s
"""


def _rows(conn: psycopg.Connection[dict[str, Any]], sql: str,
          params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql, params).fetchall()]


def _optional(conn: psycopg.Connection[dict[str, Any]], sql: str, missing: list[str],
              what: str) -> dict[str, Any] | None:
    """A status function that an older schema may lack: absent is reported, not fatal."""
    try:
        with conn.transaction():
            row = conn.execute(sql).fetchone()
    except psycopg.errors.UndefinedFunction:
        missing.append(f"{what}: not installed (run `vigil db install`)")
        return None
    if row is None:
        missing.append(f"{what}: no row")
    return dict(row) if row else None


def gather(dsn: str, day: Day) -> dict[str, Any]:
    lo = dt.datetime.fromtimestamp(day.start, dt.UTC)
    hi = dt.datetime.fromtimestamp(day.end, dt.UTC)
    params = {"lo": lo, "hi": hi, "top": TOP, "open": BUSINESS_HOURS[0],
              "close": BUSINESS_HOURS[1]}
    missing: list[str] = []
    try:
        with pg.connect(dsn, application_name="vigil-report") as raw:
            raw.row_factory = dict_row  # type: ignore[assignment]
            conn: psycopg.Connection[dict[str, Any]] = raw  # type: ignore[assignment]
            totals = _rows(conn, _TOTALS, params)[0]
            access = {
                "requests": totals["requests"], "failed": totals["failed"],
                "actors": totals["actors"], "tenants": totals["tenants"],
                "by_tenant_actor": _rows(conn, _BY_TENANT_ACTOR, params),
                "top_phi_readers": _rows(conn, _PHI_READERS, params),
                "off_hours_phi_access": _rows(conn, _OFF_HOURS, params),
                "off_hours_definition": (f"UTC before {BUSINESS_HOURS[0]:02d}:00, from "
                                         f"{BUSINESS_HOURS[1]:02d}:00, or on a weekend"),
            }
            try:
                with conn.transaction():
                    access["unusual_at_day_end"] = _rows(conn, _UNUSUAL, params)
            except psycopg.errors.UndefinedFunction:
                missing.append("access: unusual_access_patterns_at() not installed")
            audit: dict[str, Any] = {
                "metrics": _optional(conn, "SELECT coverage_ratio, phi_tables, audited_tables, "
                                     "gaps, integrity_issues, first_broken_id FROM "
                                     "vigil_monitor.security_audit_metrics()", missing,
                                     "audit: security_audit_metrics()"),
                "chain": _optional(conn, "SELECT * FROM vigil_monitor.audit_chain_status()",
                                   missing, "audit: audit_chain_status()"),
                "buffer": _optional(conn, "SELECT * FROM vigil_monitor.audit_buffer_status()",
                                    missing, "audit: audit_buffer_status()"),
            }
            sealers = _rows(conn, "SELECT sealer_id, alive, heartbeat_age_seconds, "
                            "seal_lag_seconds, rows_sealed_total, last_error FROM "
                            "vigil_monitor.audit_sealer_status()", {})
            audit["sealers"] = sealers
            keys = _rows(conn, "SELECT * FROM vigil_monitor.security_encryption_metrics()", {})
    except psycopg.Error as exc:
        raise ReportError(f"cannot read the day from the monitored database: "
                          f"{type(exc).__name__} (check --dsn and `vigil db status`)") from None
    return {"access": access, "audit": audit, "encryption_keys": keys, "missing": missing}
