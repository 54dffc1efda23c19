"""``vigil db baseline approve|show``: the approved state of the controls (schema 012).

control_status() compares RLS, FORCE RLS, each policy's definition and the audit triggers of
every monitored table with the baseline recorded here, and counts writes since the baseline
that PostgreSQL's statistics saw but the audit trigger did not.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import psycopg

from vigil.core import pg
from vigil.core.cliargs import ADMIN_DSN, dsn_or_demo, noun, verb


@dataclass(frozen=True)
class ControlState:
    schema: str
    table: str
    phi: bool
    rls_enabled: bool
    rls_forced: bool
    rls_disabled: bool
    force_removed: bool
    policy_issues: tuple[str, ...]
    audit_trigger_enabled: bool | None
    unaudited_writes: int | None

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    def problems(self) -> list[str]:
        """What changed since the approved baseline, in words (names only, no values)."""
        out = []
        if self.rls_disabled:
            out.append("row level security disabled")
        if self.force_removed:
            out.append("FORCE row level security removed")
        out += [f"policy {issue.split(':', 1)[1]} {issue.split(':', 1)[0]}"
                for issue in self.policy_issues]
        if self.audit_trigger_enabled is False:
            out.append("audit trigger disabled or missing")
        if self.unaudited_writes:
            out.append(f"{self.unaudited_writes} writes without an audit row")
        return out


def status(dsn: str) -> list[ControlState]:
    with pg.connect(dsn, application_name="vigil-check") as conn:
        return read(conn)


def read(conn: psycopg.Connection[tuple[object, ...]]) -> list[ControlState]:
    rows = conn.execute(
        "SELECT schema_name, table_name, phi, rls_enabled, rls_forced, rls_disabled, "
        "force_removed, policy_issues, audit_trigger_enabled, unaudited_writes "
        "FROM vigil_monitor.control_status()").fetchall()
    return [ControlState(str(r[0]), str(r[1]), bool(r[2]), bool(r[3]), bool(r[4]), bool(r[5]),
                         bool(r[6]), tuple(str(i) for i in r[7] or ()),  # type: ignore[attr-defined]
                         None if r[8] is None else bool(r[8]),
                         None if r[9] is None else int(str(r[9])))
            for r in rows]


def approve(dsn: str, *, only_new: bool = False) -> int:
    """Record the current controls of every monitored table as approved; returns how many."""
    with pg.connect(dsn, application_name="vigil-baseline") as conn:
        row = conn.execute("SELECT vigil_monitor.approve_controls(%s)", (only_new,)).fetchone()
        if not only_new:  # roles and grants too (schema 015), for `vigil incident integrity`
            conn.execute("SELECT vigil_monitor.approve_privileges()")
    return int(str(row[0])) if row else 0


def register(sub: Any) -> None:
    verbs = noun(sub, "baseline", "approve or show the controls vigil watches for change")
    verb(verbs, "approve", _approve, ADMIN_DSN,
         help="record RLS, FORCE, policies and audit triggers as approved",
         description="Run after a deliberate change of RLS, a policy or an audit trigger, or "
                     "after investigating unaudited writes: the control alerts compare with "
                     "what is approved now, and the write counters restart.")
    verb(verbs, "show", _show, ADMIN_DSN,
         help="each monitored table's controls against the baseline",
         description="Exit 0 when nothing changed since the baseline, 1 otherwise.")


_dsn = dsn_or_demo


def _approve(args: argparse.Namespace) -> int:
    n = approve(_dsn(args))
    print(f"approved the controls of {n} monitored tables")
    return 0


def _show(args: argparse.Namespace) -> int:
    changed = 0
    for st in status(_dsn(args)):
        problems = st.problems()
        changed += bool(problems)
        print(f"{'✗' if problems else '✓'} {st.name}: " + ("; ".join(problems) or "as approved"))
    return 1 if changed else 0
