"""Daily health check, SecurityMetrics and system/data verification against vigil_monitor."""

from __future__ import annotations

from typing import Any

import psycopg

from vigil.checks.isolation import isolation
from vigil.checks.result import CheckResult
from vigil.core import pg

Conn = psycopg.Connection[tuple[object, ...]]
__all__ = ["CheckResult", "health", "security", "verify"]


def _one(conn: Conn, query: str, params: Any = None) -> tuple[Any, ...]:
    row = conn.execute(query.encode(), params).fetchone()
    return tuple(row) if row else ()


def health(dsn: str, *, rls_ms: float = 50, phi_ms: float = 100, audit_ms: float = 10,
           window_minutes: float = 60, samples: int = 3, budget_ms: int = 2000,
           ) -> list[CheckResult]:
    """The three runbook thresholds. PHI and audit use the p95 of the window, so a burst of
    slow operations shows even when most of the hour was fine."""
    with pg.connect(dsn, application_name="vigil-check") as conn:
        # A lock on an RLS table must not hang the check: the probe reports it instead.
        conn.execute("SET lock_timeout = '1s'")
        probed = conn.execute("SELECT table_name, avg_overhead_ms, error FROM "
                              "vigil_monitor.monitor_rls_overhead(%s, %s) "
                              "ORDER BY avg_overhead_ms DESC NULLS LAST",
                              (samples, budget_ms)).fetchall()
        rows = [r for r in probed if r[1] is not None]
        # A table the probe could not measure (locked, say) is not a healthy one (migration 010).
        failed = [f"{r[0]} ({r[2]})" for r in probed if r[2] is not None]
        rls = float(str(rows[0][1])) if rows else None
        worst = (f"worst table {rows[0][0]} of {len(rows)} measured" if rows
                 else "no RLS table measured")
        phi = _one(conn, "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms), "
                   "count(*) FROM vigil_monitor.phi_access_patterns "
                   "WHERE accessed_at > now() - %s * interval '1 minute'", (window_minutes,))
        audit = _one(conn, "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY "
                     "extract(epoch FROM duration) * 1000), count(*) "
                     "FROM vigil_monitor.audit_write_metrics "
                     "WHERE \"timestamp\" > now() - %s * interval '1 minute'", (window_minutes,))
    rls_result = _judge("RLS Overhead", rls, rls_ms, worst)
    if failed:
        rls_result = CheckResult("RLS Overhead", False, rls, rls_ms,
                                 "could not measure " + ", ".join(failed))
    return [
        rls_result,
        _judge("PHI Query Time", _f(phi[0]), phi_ms, f"p95 of {phi[1]} queries"),
        _judge("Audit Write Time", _f(audit[0]), audit_ms, f"p95 of {audit[1]} writes"),
    ]


def _f(value: object) -> float | None:
    return None if value is None else float(str(value))


def _judge(name: str, value: float | None, limit: float, detail: str) -> CheckResult:
    if value is None:  # nothing examined: not a pass (#9)
        return CheckResult(name, False, None, limit, detail, no_data=True)
    return CheckResult(name, value < limit, value, limit, detail)


def security(dsn: str) -> dict[str, dict[str, Any]]:
    """The runbook's SecurityMetrics interface, filled from vigil_monitor."""
    with pg.connect(dsn, application_name="vigil-check") as conn:
        total, failed, unusual = _one(conn, "SELECT * FROM vigil_monitor.security_access_metrics()")
        age = _one(conn, "SELECT max(key_age_seconds) FROM "
                   "vigil_monitor.security_encryption_metrics() WHERE active")
        enc = _one(conn, "SELECT * FROM vigil_monitor.security_encryption_status()")
        audit = _one(conn, "SELECT coverage_ratio, gaps, integrity_issues, first_broken_id "
                     "FROM vigil_monitor.security_audit_metrics()")
    return {
        "accessPatterns": {"totalRequests": total, "failedAttempts": failed,
                           "unusualPatterns": unusual},
        "encryption": {"keyAge": _f(age[0]) if age else None, "failedOperations": enc[0],
                       "reEncryptionStatus": enc[1], "reEncryptionProgress": enc[2]},
        "audit": {"coverage": audit[0], "gaps": audit[1], "integrityIssues": audit[2],
                  "firstBrokenId": audit[3]},
    }


def verify(dsn: str, *, app_role: str = "vigil_demo_app", max_tenants: int = 5,
           ) -> list[CheckResult]:
    """System/data verification: audit chain, audit coverage, tenant isolation (as app_role)."""
    results: list[CheckResult] = []
    with pg.connect(dsn, application_name="vigil-check") as conn:
        checked, broken, reason = _one(conn, "SELECT * FROM vigil_monitor.verify_audit_chain()")
        if broken is None and not checked:
            results.append(CheckResult("Audit chain", False, None, None,
                                       "no data: 0 sealed audit rows to check", no_data=True))
        else:
            results.append(CheckResult("Audit chain", broken is None, _f(broken), None,
                                       f"{checked} sealed rows checked" if broken is None
                                       else f"first broken row id {broken}: {reason}"))
        cov, phi_tables, gaps = _one(conn, "SELECT coverage_ratio, phi_tables, gaps FROM "
                                     "vigil_monitor.security_audit_metrics()")
        if cov is None:
            results.append(CheckResult("Audit coverage", False, None, 1.0,
                                       "no data: no PHI column registered "
                                       "(vigil db phi add TABLE COLUMN)", no_data=True))
        else:
            results.append(CheckResult("Audit coverage", cov >= 1.0 and gaps == 0, float(cov),
                                       1.0, f"{phi_tables} PHI tables examined, {gaps} missing "
                                       "(PHI table, trigger event) pairs"))
        # app_role is kept for old callers: the probe now runs as the roles the policies
        # name (vigil db probe set --role), through the probe roles, not SET ROLE.
        del app_role
        results.append(isolation(conn, max_tenants))
        results.append(_controls(conn))
    return results


def _controls(conn: Conn) -> CheckResult:
    """RLS, FORCE, policies and audit triggers as approved, and no unaudited writes (012)."""
    from vigil.schema import controls

    states = controls.read(conn)
    changed = [f"{s.name}: {'; '.join(s.problems())}" for s in states if s.problems()]
    if changed:
        return CheckResult("Controls", False, float(len(changed)), 0.0,
                           "changed since the approved baseline (`vigil db baseline show`): "
                           + " | ".join(changed))
    if not states:
        return CheckResult("Controls", False, None, 0.0, "no data: no monitored table (no RLS "
                           "table, no registered PHI table)", no_data=True)
    return CheckResult("Controls", True, 0.0, 0.0,
                       f"{len(states)} monitored tables examined, as approved")
