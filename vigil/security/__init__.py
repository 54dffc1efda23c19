"""``vigil security test`` (the runbook's ``security:test``): active tests of the controls.

Each test tries what a control must refuse (as the application role, as the monitoring
role, as the administrator against the audit log) inside a transaction that is rolled back,
and reports pass, fail, or not examined with the reason. Nothing it writes outlives it.
"""

from vigil.security.result import Outcome, SecurityTest
from vigil.security.run import run_tests

__all__ = ["Outcome", "SecurityTest", "run_tests"]
