"""``vigil check security``: the runbook's SecurityMetrics judged, one row per metric.

Each metric carries its unit and, when it is an issue, why and the runbook section to follow.
Totals (requests, failed attempts, failed encryption operations since install) are shown
for context and never judged: a cumulative count cannot say whether something is wrong now;
the windowed signals (unusual patterns, the alerts) do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigil.checks.result import RUNBOOK
from vigil.core import durations

DAY = 86_400.0


@dataclass(frozen=True)
class Metric:
    key: str            # the runbook's SecurityMetrics path, e.g. "audit.integrityIssues"
    value: Any          # as the runbook's interface holds it (JSON), None when not measured
    unit: str
    shown: str          # the value for people, with its unit
    issue: str | None   # why this is an issue; None when fine or informational
    guide: str          # docs/runbook.md#section to follow

    def as_json(self) -> dict[str, Any]:
        return {"metric": self.key, "value": self.value, "unit": self.unit,
                "status": "fail" if self.issue else "pass", "issue": self.issue,
                "guide": self.guide}


def judge(metrics: dict[str, dict[str, Any]], *, key_max_age_days: float) -> list[Metric]:
    acc, enc, aud = metrics["accessPatterns"], metrics["encryption"], metrics["audit"]
    age = enc["keyAge"]
    status = enc["reEncryptionStatus"]
    coverage = aud["coverage"]
    out = [
        _m("accessPatterns.totalRequests", acc["totalRequests"], "requests",
           f"{acc['totalRequests']} requests since install", None, guide="key-metrics-dashboard"),
        _m("accessPatterns.failedAttempts", acc["failedAttempts"], "requests",
           f"{acc['failedAttempts']} denied since install", None, guide="failed-access-attempts"),
        _m("accessPatterns.unusualPatterns", acc["unusualPatterns"], "actors",
           f"{acc['unusualPatterns']} actors flagged now",
           "actors with unusual access now" if acc["unusualPatterns"] else None,
           guide="unusual-access-patterns"),
        _m("encryption.keyAge", age, "seconds",
           "no active key" if age is None else f"{_age(age)} (oldest active key)",
           _key_issue(age, key_max_age_days), guide="encryption-key-age"),
        _m("encryption.failedOperations", enc["failedOperations"], "operations",
           f"{enc['failedOperations']} failed since install", None, guide="encryption-failures"),
        _m("encryption.reEncryptionStatus", status, "state", str(status),
           "re-encryption stalled" if status == "stalled" else None,
           guide="re-encryption-stalled"),
        _m("encryption.reEncryptionProgress", enc["reEncryptionProgress"], "ratio",
           f"{float(enc['reEncryptionProgress']) * 100:.0f} %", None,
           guide="re-encryption-stalled"),
        _m("audit.coverage", coverage, "ratio",
           "no PHI table registered" if coverage is None else f"{float(coverage) * 100:.0f} % "
           "of PHI tables audited",
           "PHI tables without an audit trigger" if coverage is not None and coverage < 1
           else None, guide="audit-coverage"),
        _m("audit.gaps", aud["gaps"], "(table, event) pairs",
           f"{aud['gaps']} missing (PHI table, trigger event) pairs",
           "audit triggers missing" if aud["gaps"] else None, guide="audit-gaps"),
        _m("audit.integrityIssues", aud["integrityIssues"], "rows",
           f"{aud['integrityIssues']} chain rows broken",
           "audit hash chain broken" if aud["integrityIssues"] else None, guide="audit-integrity"),
        _m("audit.firstBrokenId", aud["firstBrokenId"], "audit row id",
           "-" if aud["firstBrokenId"] is None else f"row {aud['firstBrokenId']}", None,
           guide="audit-integrity"),
    ]
    return out


def _m(key: str, value: Any, unit: str, shown: str, issue: str | None, *, guide: str) -> Metric:
    return Metric(key, value, unit, shown, issue, f"{RUNBOOK}#{guide}")


def _key_issue(age: float | None, max_days: float) -> str | None:
    if age is None or age <= max_days * DAY:
        return None
    return f"oldest active key older than {max_days:g} days: rotate"


def _age(seconds: float) -> str:
    """577.88 -> '9m38s'; 8_000_000 -> '92.6 days (92d14h13m20s)'."""
    text = durations.format(round(seconds))
    return f"{seconds / DAY:.1f} days ({text})" if seconds >= 2 * DAY else text
