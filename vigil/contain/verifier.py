"""Prove a containment holds, or that a release restored the prior state.

What a target should look like comes from ``vigil_monitor.containments`` (schema 014): an
active row means contained; otherwise the latest released row's prior state is what release
had to restore.
"""

from __future__ import annotations

from typing import Any

import psycopg

from vigil.checks.result import CheckResult
from vigil.contain import executor, planner, policies
from vigil.contain.model import Target, Verification

Conn = psycopg.Connection[Any]


def verify(conn: Conn, target: Target) -> Verification:
    held = planner.active_row(conn, target)
    state: Any = "contained" if held else "released"
    checks: list[CheckResult] = []
    if target.kind == "role":
        checks += _role(conn, target, held[2] if held else _last_prior(conn, target),
                        contained=held is not None)
    else:
        bad = policies.drift(conn)
        checks.append(CheckResult("policies", not bad, detail="; ".join(bad) or
                                  "every RLS table carries the policy the containments imply"))
        if target.kind == "actor":
            admitted = _admits(conn, target.value)
            checks.append(CheckResult("actor refused", admitted is (held is None),
                                      detail=f"vigil_contain.admits for {target.value}: "
                                             f"{admitted}"))
            refused = refused_writes(conn, target)
            checks.append(_counted(refused, contained=held is not None))
            return Verification(target, state, tuple(checks), refused)
    return Verification(target, state, tuple(checks))


def refused_writes(conn: Conn, target: Target) -> int | None:
    """The writes refused to an actor under its active containment, else its last one (the
    recovery report's figure after release); None when that containment had no counter."""
    row = conn.execute("SELECT refused_writes FROM vigil_monitor.contained_write_refusals() "
                       "WHERE kind = %s AND target = %s ORDER BY active DESC, "
                       "containment_id DESC LIMIT 1", (target.kind, target.value)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _counted(refused: int | None, *, contained: bool) -> CheckResult:
    """Contained: its refused writes must be counted (a counter dropped by hand fails this);
    released: the count of the last containment, for the record."""
    if refused is None:
        # Released without a counter: nothing was measured, which is not a pass either.
        return CheckResult("refused writes counted", not contained, no_data=not contained,
                           detail=("no counter: its refused INSERTs leave no trace" if contained
                                   else "none recorded (never contained, or released before "
                                        "schema 020)"))
    return CheckResult("refused writes counted", True,
                       detail=f"{refused} write(s) refused "
                       + ("since contained" if contained else "while it was contained"))


def _last_prior(conn: Conn, target: Target) -> dict[str, Any] | None:
    row = conn.execute("SELECT prior FROM vigil_monitor.containments WHERE kind = %s AND "
                       "target = %s ORDER BY released_at DESC NULLS FIRST, id DESC LIMIT 1",
                       (target.kind, target.value)).fetchone()
    return dict(row[0]) if row else None


def _role(conn: Conn, target: Target, prior: dict[str, Any] | None,
          contained: bool) -> list[CheckResult]:
    now = planner.role_state(conn, target.value)
    if now is None:
        return [CheckResult("role exists", False, detail=f"no role named {target.value}")]
    if contained:
        left = executor.sessions(conn, target)
        return [CheckResult("no login", not now["rolcanlogin"],
                            detail=f"rolcanlogin {now['rolcanlogin']}"),
                CheckResult("connect revoked", not now["connect"],
                            detail=f"own CONNECT grants: {len(now['connect'])}"),
                CheckResult("sessions gone", left == 0, detail=f"{left} session(s) still open")]
    if prior is None:
        return [CheckResult("never contained", True, detail="nothing to restore")]
    return [CheckResult("login restored", now["rolcanlogin"] == prior["rolcanlogin"],
                        detail=f"rolcanlogin {now['rolcanlogin']}, before {prior['rolcanlogin']}"),
            CheckResult("connect restored", now["connect"] == prior["connect"],
                        detail=f"own CONNECT grants {now['connect']}, before {prior['connect']}")]


def _admits(conn: Conn, actor: str) -> bool:
    """What the policy answers the actor, in a transaction rolled back (the probe's own
    refusal must not land in the access log)."""
    admitted = False
    with conn.transaction() as tx:
        conn.execute("SELECT set_config('app.current_actor_id', %s, true)", (actor,))
        row = conn.execute("SELECT vigil_contain.admits('vigil verify')").fetchone()
        admitted = bool(row and row[0])
        raise psycopg.Rollback(tx)
    return admitted
