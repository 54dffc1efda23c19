"""Run a plan exactly as printed, then end a contained role's sessions.

The plan's statements run in one transaction (all or nothing); the ``after`` steps run once
it committed: NOLOGIN is then visible to every new connection, so a client whose session is
terminated can't log straight back in. Terminating is repeated until no session of the role
is left or the timeout passes (a backend may take a moment to exit).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import errors

from vigil.contain.model import Plan, Target
from vigil.errors import VigilError

Conn = psycopg.Connection[Any]
POLL = 0.05   # seconds between checks for sessions still open


def run(conn: Conn, plan: Plan, timeout: float) -> int:
    """Execute ``plan`` on an autocommit connection; returns the sessions left behind (0 for
    everything but a role whose sessions outlived ``timeout``)."""
    if plan.noop:
        return 0
    try:
        with conn.transaction():
            for step in plan.steps:
                if not step.after:
                    conn.execute(step.sql.encode())
    except errors.UniqueViolation:
        # Another responder contained the same target between our plan and now.
        raise VigilError(f"{plan.target.label} was contained meanwhile; re-run to see its "
                         "state") from None
    after = [s for s in plan.steps if s.after]
    if not after:
        return 0
    deadline = time.monotonic() + timeout
    while True:
        for step in after:
            conn.execute(step.sql.encode())
        left = sessions(conn, plan.target)
        if left == 0 or time.monotonic() >= deadline:
            return left
        time.sleep(POLL)


def sessions(conn: Conn, target: Target) -> int:
    """Open sessions of a role (pg_stat_activity's session user), ours excepted."""
    if target.kind != "role":
        return 0
    row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s "
                       "AND pid <> pg_backend_pid()", (target.value,)).fetchone()
    return int(row[0]) if row else 0
