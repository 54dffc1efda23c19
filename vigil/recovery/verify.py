"""``vigil recovery verify``: the runbook's System Recovery Checklist, one item per line.

Every item is made of checks that exist elsewhere: ``vigil check verify`` (audit chain,
coverage, tenant isolation probe, controls baseline), ``vigil check health`` (RLS overhead,
PHI query and audit write p95), ``vigil db status`` (schema objects) and ``vigil security
test`` (active tests of isolation and the controls). Only what no command measured before
is read here: tenant-less rows, encryption failures and encryption time over the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigil.checks import runbook
from vigil.checks.result import CheckResult
from vigil.core import pg
from vigil.schema import installer
from vigil.security import isolation as sec_isolation
from vigil.security.result import Outcome, SecurityTest
from vigil.security.run import run_tests
from vigil.security.scope import Conn
from vigil.security.scope import read as read_scope

# The runbook's thresholds (docs/runbook.md, Conventions).
ENCRYPTION_MS = 100.0


@dataclass(frozen=True)
class Item:
    """One checklist item and the checks behind it."""

    name: str
    checks: tuple[CheckResult, ...]

    @property
    def failed(self) -> bool:
        return any(not c.ok and not c.no_data for c in self.checks)

    @property
    def no_data(self) -> bool:
        return not self.failed and any(c.no_data for c in self.checks)

    @property
    def mark(self) -> str:
        return "✗" if self.failed else "⚠" if self.no_data else "✓"

    def as_json(self) -> dict[str, Any]:
        return {"item": self.name, "status": {"✓": "pass", "✗": "fail", "⚠": "no data"}[self.mark],
                "checks": [{"name": c.name, "ok": c.ok, "no_data": c.no_data, "value": c.value,
                            "threshold": c.threshold, "detail": c.detail} for c in self.checks]}


def exit_code(items: list[Item]) -> int:
    if any(i.failed for i in items):
        return 1
    return 2 if any(i.no_data for i in items) else 0


def verify(dsn: str, *, window_minutes: float = 60.0, samples: int = 3,
           budget_ms: int = 2000) -> list[Item]:
    """``dsn``: a superuser on the monitored database (the security test becomes each role)."""
    by_name = {r.name: r for r in runbook.verify(dsn)}
    tests = run_tests(dsn)
    iso_controls = {sec_isolation.INVISIBLE, sec_isolation.UNWRITABLE, sec_isolation.UNSET}
    health = runbook.health(dsn, window_minutes=window_minutes, samples=samples,
                            budget_ms=budget_ms)
    with pg.connect(dsn, application_name="vigil-recovery") as conn:
        schema = _schema(dsn)
        consistency = _consistency(conn, window_minutes)
        encryption = _encryption_time(conn, window_minutes)
    return [
        Item("System integrity", (schema, by_name["Audit chain"])),
        Item("Data consistency", tuple(consistency)),
        Item("Tenant isolation", (by_name["Tenant isolation"], _summary(
            "Active isolation tests", [t for t in tests if t.control in iso_controls]))),
        Item("Audit completeness", (by_name["Audit coverage"],)),
        Item("Security controls", (by_name["Controls"], _summary(
            "Security test", [t for t in tests if t.control not in iso_controls]))),
        Item("Performance", tuple(_in_ms(c) for c in (*health, encryption))),
    ]


def _in_ms(c: CheckResult) -> CheckResult:
    """The measured value and the runbook's threshold in the words of the check."""
    if c.value is None or c.threshold is None:
        return c
    return CheckResult(c.name, c.ok, c.value, c.threshold,
                       f"{c.value:.2f} ms (threshold < {c.threshold:g} ms; {c.detail})")


def _schema(dsn: str) -> CheckResult:
    st = installer.status(dsn)
    if st.installed_version is None:
        return CheckResult("Schema", False, None, None, "vigil_monitor is not installed "
                           "(vigil db install)")
    problems = [f"missing {m}" for m in st.missing]
    problems += [f"migration {v} pending (vigil db install)" for v in st.pending]
    return CheckResult("Schema", not problems, float(st.installed_version), None,
                       "; ".join(problems) or f"version {st.installed_version}, every "
                       "contract object present")


def _summary(name: str, tests: list[SecurityTest]) -> CheckResult:
    """Security test verdicts as one check: failures named; not-examined tests said, and
    only a pass when at least one test was examined."""
    failed = [f"{t.control} [{t.subject}]: {t.detail}" for t in tests if t.outcome is Outcome.FAIL]
    passed = [t for t in tests if t.outcome is Outcome.PASS]
    unexamined = [f"{t.control} ({t.detail})" for t in tests
                  if t.outcome is Outcome.NOT_EXAMINED]
    note = f"; not examined: {'; '.join(unexamined)}" if unexamined else ""
    if failed:
        return CheckResult(name, False, float(len(failed)), 0.0, "failed: "
                           + " | ".join(failed) + note)
    if not passed:
        return CheckResult(name, False, None, 0.0, "nothing examined" + note, no_data=True)
    return CheckResult(name, True, 0.0, 0.0, f"{len(passed)} tests passed (vigil security "
                       f"test){note}")


def _consistency(conn: Conn, window_minutes: float) -> list[CheckResult]:
    """Rows no tenant can see (a NULL tenant), failed encryption operations in the window and
    a stalled re-encryption: data the application can no longer read as it should."""
    from psycopg import sql

    scope = read_scope(conn)
    orphaned = []
    for t in scope.tables:
        if t.tenant_column is None:
            continue
        row = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} IS NULL)").format(
            sql.SQL(t.name), sql.Identifier(t.tenant_column))).fetchone()
        if row and row[0]:
            orphaned.append(f"{t.name}.{t.tenant_column}")
    with_column = [t for t in scope.tables if t.tenant_column is not None]
    tenants = (CheckResult("Rows without a tenant", False, float(len(orphaned)), 0.0,
                           "NULL tenant in " + ", ".join(orphaned)) if orphaned else
               CheckResult("Rows without a tenant", True, 0.0, 0.0,
                           f"none in {len(with_column)} tenant tables") if with_column else
               CheckResult("Rows without a tenant", False, None, 0.0,
                           "no tenant table with a tenant column", no_data=True))
    row = conn.execute("SELECT count(*) FILTER (WHERE NOT success), count(*) "
                       "FROM vigil_monitor.encryption_ops "
                       "WHERE ts > now() - %s * interval '1 minute'", (window_minutes,)).fetchone()
    failed, total = (int(str(row[0])), int(str(row[1]))) if row else (0, 0)
    status = conn.execute("SELECT * FROM vigil_monitor.security_encryption_status()").fetchone()
    state = str(status[1]) if status else "unknown"
    failures = (CheckResult("Encryption failures", False, None, 0.0, "no encryption operation "
                            f"recorded in the last {window_minutes:g} min", no_data=True)
                if total == 0 else
                CheckResult("Encryption failures", failed == 0, float(failed), 0.0,
                            f"{failed} of {total} operations in the last {window_minutes:g} min "
                            "failed"))
    return [tenants, failures,
            CheckResult("Re-encryption", state != "stalled", None, None, f"status {state}")]


def _encryption_time(conn: Conn, window_minutes: float) -> CheckResult:
    row = conn.execute("SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms), "
                       "count(*) FROM vigil_monitor.encryption_ops "
                       "WHERE ts > now() - %s * interval '1 minute'", (window_minutes,)).fetchone()
    p95 = None if row is None or row[0] is None else float(str(row[0]))
    n = int(str(row[1])) if row else 0
    if p95 is None:
        return CheckResult("Encryption Time", False, None, ENCRYPTION_MS,
                           f"p95 of 0 operations in the last {window_minutes:g} min",
                           no_data=True)
    return CheckResult("Encryption Time", p95 < ENCRYPTION_MS, p95, ENCRYPTION_MS,
                       f"p95 of {n} operations")
