"""Is what the incident touched still intact? ``vigil incident integrity ID``.

Four checks, each reusing the module that owns it:

* the audit chain from the window's first sealed row to the head, with the key and the
  checkpoint file (vigil/audit/verify.py, not recorded as the incremental verdict), plus the
  database's own tripwire and verdict (``audit_chain_status()``, 008);
* audit coverage of the PHI tables (``security_audit_metrics()``, as ``vigil check verify``);
* the controls against the approved baseline: RLS, FORCE, each policy's definition, audit
  triggers, unaudited writes (vigil/schema/controls.py, 012);
* roles and grants against the baseline ``vigil db baseline approve`` records with them
  (``privilege_baseline``, 015). A database approved before 015 has none: reported, not failed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from vigil.audit import verify
from vigil.audit.checkpoints import Checkpoint
from vigil.investigate.scope import Scope
from vigil.schema import controls

Conn = psycopg.Connection[tuple[object, ...]]

_FIRST_IN_WINDOW = ("SELECT min(id) FROM vigil_monitor.audit_log "
                    "WHERE logged_at >= %s AND logged_at <= %s")
_PRIVILEGE_DIFF = """
WITH now AS (SELECT kind, name, detail FROM vigil_monitor.privilege_snapshot()),
base AS (SELECT kind, name, detail FROM vigil_monitor.privilege_baseline)
SELECT coalesce(n.kind, b.kind), coalesce(n.name, b.name),
       CASE WHEN b.name IS NULL THEN 'added' WHEN n.name IS NULL THEN 'removed'
            ELSE 'changed' END, b.detail, n.detail
FROM now n FULL JOIN base b ON b.kind = n.kind AND b.name = n.name
WHERE n.detail IS DISTINCT FROM b.detail
ORDER BY 1, 2
"""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    problems: list[str] = field(default_factory=list)
    no_data: bool = False


def audit_chain(conn: Conn, scope: Scope, key: bytes, cps: list[Checkpoint]) -> Check:
    row = conn.execute(_FIRST_IN_WINDOW, (scope.since, scope.until)).fetchone()
    first = int(str(row[0])) if row and row[0] is not None else None
    st = conn.execute("SELECT head_seq, integrity_issues, first_broken_seq "
                      "FROM vigil_monitor.audit_chain_status()").fetchone()
    assert st is not None
    head, issues, broken = int(str(st[0])), int(str(st[1])), st[2]
    problems: list[str] = []
    if issues:
        problems.append(f"the database reports {issues} integrity issue(s), first at seq "
                        f"{broken} (tripwire or last keyed verification)")
    if first is None:
        return Check("Audit chain", not problems, f"no sealed audit row in the window "
                     f"(head seq {head})", problems, no_data=not problems)
    res = verify.verify(verify.DbSource(conn), key, cps, start=first - 1)
    problems += [f"seq {f.seq} {f.kind}: {f.detail}" for f in
                 sorted(res.findings, key=lambda f: f.seq)]
    return Check("Audit chain", not problems,
                 f"{res.checked} rows verified with the key from seq {first} (the window's "
                 f"first) to head {res.head_seq}", problems)


def coverage(conn: Conn) -> Check:
    row = conn.execute("SELECT coverage_ratio, phi_tables, audited_tables, gaps "
                       "FROM vigil_monitor.security_audit_metrics()").fetchone()
    assert row is not None
    ratio, phi, audited, gaps = float(str(row[0])), int(str(row[1])), int(str(row[2])), \
        int(str(row[3]))
    if phi == 0:
        return Check("Audit coverage", False, "no PHI column registered: coverage unknown "
                     "(vigil db phi add TABLE COLUMN)", ["no PHI column registered"],
                     no_data=True)
    ok = ratio >= 1.0 and gaps == 0
    return Check("Audit coverage", ok, f"{audited} of {phi} PHI tables fully audited",
                 [] if ok else [f"{gaps} missing (PHI table, trigger event) pairs"])


def controls_check(conn: Conn) -> Check:
    states = controls.read(conn)
    problems = [f"{s.name}: {p}" for s in states for p in s.problems()]
    return Check("Controls since baseline", not problems,
                 f"{len(states)} monitored tables against the approved baseline (RLS, FORCE, "
                 "policies, audit triggers, unaudited writes)", problems,
                 no_data=not states)


def privileges(conn: Conn) -> Check:
    row = conn.execute("SELECT count(*), max(approved_at) "
                       "FROM vigil_monitor.privilege_baseline").fetchone()
    if not row or not row[0]:
        return Check("Roles and grants since baseline", True, "no approved baseline of roles "
                     "and grants yet (vigil db baseline approve records one)", no_data=True)
    problems = []
    for kind, name, change, before, after in conn.execute(_PRIVILEGE_DIFF):
        if change == "changed":
            problems.append(f"{kind} {name} changed: {before} -> {after}")
        else:
            problems.append(f"{kind} {name} {change}"
                            + (f" ({after})" if change == "added" else ""))
    return Check("Roles and grants since baseline", not problems,
                  f"compared with the baseline approved at {row[1]}", problems)


def run(conn: Conn, scope: Scope, key: bytes, cps: list[Checkpoint]) -> list[Check]:
    return [audit_chain(conn, scope, key, cps), coverage(conn), controls_check(conn),
            privileges(conn)]


def as_dict(checks: list[Check], scope: Scope) -> dict[str, Any]:
    return {"ok": all(c.ok for c in checks), "scope": scope.as_dict(),
            "checks": [asdict(c) for c in checks]}
