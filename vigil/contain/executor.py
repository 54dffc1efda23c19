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

from vigil.contain import planner
from vigil.contain.model import Plan, Target
from vigil.core.errors import VigilError

Conn = psycopg.Connection[Any]
POLL = 0.05   # seconds between checks for sessions still open
LOCK = 7311930014   # pg_advisory_xact_lock key: containment changes on one database
# DROP/CREATE POLICY takes ACCESS EXCLUSIVE on every RLS table, in one transaction: waiting
# behind a long query would hold the locks already taken and queue the whole application
# behind us. Better to give up quickly and let the responder retry.
LOCK_TIMEOUT = 2.0   # seconds


def run(conn: Conn, plan: Plan, timeout: float, lock_timeout: float = LOCK_TIMEOUT) -> int:
    """Execute ``plan`` on an autocommit connection; returns the sessions left behind (0 for
    everything but a role whose sessions outlived ``timeout``). A lock not granted within
    ``lock_timeout`` seconds aborts the whole transaction (nothing changed)."""
    if plan.noop:
        return 0
    label = f"{plan.action} {plan.target.label}"
    step = 0
    try:
        with conn.transaction():
            # SET LOCAL lock_timeout, first: every lock below is bounded, this one included.
            conn.execute("SELECT set_config('lock_timeout', %s, true)",
                         (f"{max(1, round(lock_timeout * 1000))}ms",))
            # One containment change at a time per database, and only on the state planned.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
            if planner.basis(conn) != plan.basis:
                raise VigilError(f"{label}: the database's containments changed since this "
                                 "plan was made; nothing ran, plan again")
            for index, s in enumerate(plan.steps, 1):
                step = index   # named in the error below
                if not s.after:
                    conn.execute(s.sql.encode())
    except errors.UniqueViolation:
        raise VigilError(f"{plan.target.label} was contained meanwhile; re-run to see its "
                         "state") from None
    except errors.LockNotAvailable:
        raise VigilError(f"{label}: step {step} waited more than {lock_timeout:g}s for a table "
                         "lock (a long query or transaction holds it); nothing changed (one "
                         "transaction), retry (or raise --lock-timeout)") from None
    except psycopg.Error as exc:
        # The class and SQLSTATE, never PostgreSQL's message (it can quote values).
        raise VigilError(f"{label}: step {step} failed ({type(exc).__name__}, SQLSTATE "
                         f"{getattr(exc, 'sqlstate', '') or '?'}); nothing changed (one "
                         "transaction)") from None
    after = [s for s in plan.steps if s.after]
    if not after:
        return 0
    deadline = time.monotonic() + timeout
    while True:
        for terminate in after:
            conn.execute(terminate.sql.encode())
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
