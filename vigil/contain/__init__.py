"""Containment that acts on the monitored database (issue #12): roles, actors, tenants.

The Python API other commands build on (``vigil incident contain``, ``vigil security test``)::

    plan = contain.plan(dsn, Target("tenant", "t-9"), incident_id=3, who="alice")
    contain.execute(dsn, plan, timeout=10)      # exactly plan.steps, then sessions ended
    contain.verify(dsn, plan.target).ok         # contained as planned?
    contain.execute(dsn, contain.plan_release(dsn, plan.target, who="alice"))
    contain.verify(dsn, plan.target).ok         # prior state restored?

Every function takes an admin DSN of the monitored database (vigil_monitor installed, 014+).
"""

from __future__ import annotations

from vigil.contain import executor, planner, verifier
from vigil.contain.model import KINDS, Check, Plan, Step, Target, TargetError, Verification
from vigil.core import pg

__all__ = ["KINDS", "Check", "Plan", "Step", "Target", "TargetError", "Verification",
           "execute", "plan", "plan_release", "verify"]


def plan(dsn: str, target: Target, incident_id: int, who: str) -> Plan:
    """The statements that would contain ``target``, with their effect; changes nothing."""
    with pg.connect(dsn, application_name="vigil-contain") as conn:
        return planner.plan_contain(conn, target, incident_id, who)


def plan_release(dsn: str, target: Target, who: str) -> Plan:
    """The statements that restore what containing ``target`` changed; changes nothing."""
    with pg.connect(dsn, application_name="vigil-contain") as conn:
        return planner.plan_release(conn, target, who)


def execute(dsn: str, plan: Plan, timeout: float = 10.0) -> int:
    """Run ``plan``; returns the role sessions still open after ``timeout`` (0 expected)."""
    with pg.connect(dsn, application_name="vigil-contain") as conn:
        return executor.run(conn, plan, timeout)


def verify(dsn: str, target: Target) -> Verification:
    """Whether ``target`` is contained as recorded, or restored to its prior state."""
    with pg.connect(dsn, application_name="vigil-contain") as conn:
        return verifier.verify(conn, target)
