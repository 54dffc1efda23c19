"""Containment that acts on the monitored database (issue #12): roles, actors, tenants.

The Python API other commands build on (``vigil incident contain``, ``vigil security test``)::

    plan = contain.plan(dsn, Target("tenant", "t-9"), incident_id=3, who="alice")
    contain.execute(dsn, plan, timeout=10)      # exactly plan.steps, then sessions ended
    contain.verify(dsn, plan.target).ok         # contained as planned?
    contain.execute(dsn, contain.plan_release(dsn, plan.target, who="alice"))
    contain.verify(dsn, plan.target).ok         # prior state restored?

or in one call each: ``contain.contain(dsn, target, incident_id, who)`` and
``contain.release(dsn, target, who)``, each returning the Verification. Outside an incident
(a self-test), pass incident_id 0.

Every function takes an admin DSN of the monitored database (vigil_monitor installed, 014+).
"""

from __future__ import annotations

from vigil.contain import executor, planner, verifier
from vigil.contain.model import KINDS, Plan, Step, Target, TargetError, Verification
from vigil.core import pg

__all__ = ["KINDS", "Plan", "Step", "Target", "TargetError", "Verification",
           "contain", "execute", "plan", "plan_release", "release", "verify"]


def plan(dsn: str, target: Target, incident_id: int, who: str) -> Plan:
    """The statements that would contain ``target``, with their effect; changes nothing."""
    with pg.connect(dsn, application_name="vigil-contain") as conn:
        return planner.plan_contain(conn, target, incident_id, who)


def plan_release(dsn: str, target: Target, who: str) -> Plan:
    """The statements that restore what containing ``target`` changed; changes nothing."""
    with pg.connect(dsn, application_name="vigil-contain") as conn:
        return planner.plan_release(conn, target, who)


def execute(dsn: str, plan: Plan, timeout: float = 10.0,
            lock_timeout: float = executor.LOCK_TIMEOUT) -> int:
    """Run ``plan``; returns the role sessions still open after ``timeout`` (0 expected).
    A table lock not granted within ``lock_timeout`` seconds: VigilError, nothing changed."""
    with pg.connect(dsn, application_name="vigil-contain") as conn:
        return executor.run(conn, plan, timeout, lock_timeout)


def verify(dsn: str, target: Target) -> Verification:
    """Whether ``target`` is contained as recorded, or restored to its prior state."""
    with pg.connect(dsn, application_name="vigil-contain") as conn:
        return verifier.verify(conn, target)


def contain(dsn: str, target: Target, incident_id: int, who: str,
            timeout: float = 10.0) -> Verification:
    """Plan, run and verify a containment, with no approval gate (the CLI holds that)."""
    execute(dsn, plan(dsn, target, incident_id, who), timeout)
    return verify(dsn, target)


def release(dsn: str, target: Target, who: str) -> Verification:
    """Plan, run and verify the release of ``target``: its prior state restored."""
    execute(dsn, plan_release(dsn, target, who))
    return verify(dsn, target)
