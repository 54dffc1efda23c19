"""The runbook's commands that read the database.

``health(dsn)`` is the Daily Health Check, ``security(dsn)`` the SecurityMetrics and
``verify(dsn)`` the recovery checklist's system/data verification.
"""

from vigil.checks.runbook import CheckResult, health, security, verify

__all__ = ["CheckResult", "health", "security", "verify"]
