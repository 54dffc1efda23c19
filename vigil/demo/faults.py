"""Real faults for the demo database (names fixed in docs/CONTRACTS.md).

Each inject changes the database so the signal really crosses the runbook threshold; each
heal undoes exactly that change. State needed to heal lives in demo_private.fault_state.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Callable

from vigil.audit.demo import seal_for_demo
from vigil.core import pg
from vigil.core.errors import VigilError
from vigil.demo.app import FAST_PGP_OPTIONS, add_key
from vigil.demo.load import Conn, cross_tenant_attempt, reencrypt, victims

# The control faults (issue #9 point 7) come last: healing the audit ones approves the
# baseline again (the unaudited writes are acknowledged), which must not bless another fault
# still in place, so `vigil demo heal` restores everything else first.
FAULTS: tuple[str, ...] = ("slow-rls", "slow-audit", "slow-encryption", "failed-access",
                           "audit-tamper", "rls-disabled", "policy-dropped",
                           "audit-trigger-disabled", "unaudited-writes")
# 75 ms per query: one InitPlan per statement, well past the 50 ms RLS threshold.
SLOW_RLS_SECONDS = 0.075
# 20 ms per audit row: a slow synchronous audit sink, past the 10 ms threshold.
SLOW_AUDIT_SECONDS = 0.02
# Max s2k iterations plus a bcrypt KDF: each pgcrypto call costs well over 100 ms.
SLOW_PGP_OPTIONS = "cipher-algo=aes128, s2k-mode=3, s2k-count=65011712"
# Cross-tenant attempts (a denied read and a denied write each) by one intruder: 120 denied
# requests in about a second, 0.4/s over five minutes, four times VigilFailedAccessSpike's
# 0.1/s and 24 times the unusual-pattern rule's 5 per actor (docs/demo.md).
FAILED_BURST = 60


def _save(conn: Conn, fault: str, data: dict[str, object]) -> None:
    conn.execute("INSERT INTO demo_private.fault_state VALUES (%s, %s) "
                 "ON CONFLICT (fault) DO UPDATE SET data = EXCLUDED.data",
                 (fault, json.dumps(data)))


def _pop(conn: Conn, fault: str) -> dict[str, object] | None:
    row = conn.execute("DELETE FROM demo_private.fault_state WHERE fault = %s RETURNING data",
                       (fault,)).fetchone()
    return dict(row[0]) if row else None  # type: ignore[call-overload]


def active_faults(admin_db_dsn: str) -> list[str]:
    with pg.connect(admin_db_dsn) as conn:
        return [str(r[0]) for r in conn.execute("SELECT fault FROM demo_private.fault_state")]


def inject(admin_db_dsn: str, fault: str) -> dict[str, object]:
    """Inject ``fault``; returns what was done (e.g. the tampered audit row id)."""
    if fault not in FAULTS:
        raise VigilError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
    with pg.connect(admin_db_dsn, application_name="vigil-demo-fault") as conn, \
            conn.transaction():
        return _ACTIONS[fault][0](conn)


def heal(admin_db_dsn: str, fault: str | None = None) -> list[str]:
    """Heal one fault, or every fault when ``fault`` is None. Returns the faults healed."""
    if fault is not None and fault not in FAULTS:
        raise VigilError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
    healed: list[str] = []
    with pg.connect(admin_db_dsn, application_name="vigil-demo-fault") as conn:
        for name in FAULTS if fault is None else (fault,):
            with conn.transaction():
                if _ACTIONS[name][1](conn):
                    healed.append(name)
    return healed


@dataclasses.dataclass(frozen=True)
class _Statements:
    """A fault that is a few DDL statements and their undoing; ``done`` is what inject says."""

    inject: tuple[str, ...]
    heal: tuple[str, ...]
    done: dict[str, object]


_STATEMENT_FAULTS = {
    "slow-rls": _Statements(
        inject=(f"""CREATE OR REPLACE FUNCTION public.vigil_fault_slow_policy() RETURNS boolean
                    LANGUAGE sql VOLATILE AS $$ SELECT true FROM pg_sleep({SLOW_RLS_SECONDS}) $$""",
                'DROP POLICY IF EXISTS vigil_fault_slow_rls ON public."Deal"',
                # A restrictive policy with an uncorrelated sub-select: once per query.
                'CREATE POLICY vigil_fault_slow_rls ON public."Deal" AS RESTRICTIVE FOR ALL '
                "USING ((SELECT public.vigil_fault_slow_policy()))"),
        heal=('DROP POLICY IF EXISTS vigil_fault_slow_rls ON public."Deal"',
              "DROP FUNCTION IF EXISTS public.vigil_fault_slow_policy()"),
        done={"policy": "vigil_fault_slow_rls"}),
    "slow-audit": _Statements(
        inject=(f"""CREATE OR REPLACE FUNCTION public.vigil_fault_slow_audit_sink() RETURNS
                    trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep({SLOW_AUDIT_SECONDS});
                    RETURN NEW; END $$""",
                # The audit trigger's own write is the buffer insert (sealed later, outside).
                "DROP TRIGGER IF EXISTS vigil_fault_slow_audit ON vigil_monitor.audit_buffer",
                "CREATE TRIGGER vigil_fault_slow_audit BEFORE INSERT ON "
                "vigil_monitor.audit_buffer FOR EACH ROW "
                "EXECUTE FUNCTION public.vigil_fault_slow_audit_sink()"),
        heal=("DROP TRIGGER IF EXISTS vigil_fault_slow_audit ON vigil_monitor.audit_buffer",
              "DROP TRIGGER IF EXISTS vigil_fault_slow_audit ON vigil_monitor.audit_log",
              "DROP FUNCTION IF EXISTS public.vigil_fault_slow_audit_sink()"),
        done={"trigger": "vigil_fault_slow_audit"}),
    "rls-disabled": _Statements(
        inject=('ALTER TABLE public."Contact" DISABLE ROW LEVEL SECURITY',),
        heal=('ALTER TABLE public."Contact" ENABLE ROW LEVEL SECURITY',),
        done={"table": 'public."Contact"'}),
}


def _statement_fault(name: str) -> tuple[Callable[[Conn], dict[str, object]],
                                         Callable[[Conn], bool]]:
    fault = _STATEMENT_FAULTS[name]

    def inject(conn: Conn) -> dict[str, object]:
        for stmt in fault.inject:
            conn.execute(stmt.encode())
        _save(conn, name, {})
        return dict(fault.done)

    def heal(conn: Conn) -> bool:
        for stmt in fault.heal:
            conn.execute(stmt.encode())
        return _pop(conn, name) is not None

    return inject, heal


def _inject_slow_encryption(conn: Conn) -> dict[str, object]:
    """Rotate to a key with a pathological KDF: every later encrypt and decrypt is slow."""
    if conn.execute("SELECT 1 FROM demo_private.fault_state "
                    "WHERE fault = 'slow-encryption'").fetchone():
        return {"already": True}
    key_id = f"k-slow-{secrets.token_hex(3)}"
    add_key(conn, key_id, SLOW_PGP_OPTIONS, slow_kdf=True)
    # Re-encrypt the newest deal of each tenant so PHI reads slow down at once.
    conn.execute(
        "UPDATE \"Deal\" SET patient_name_enc = encrypt_phi(decrypt_phi(patient_name_enc, key_id), "
        "%(k)s), key_id = %(k)s, diagnosis_enc = encrypt_phi(decrypt_phi(diagnosis_enc, key_id), "
        "%(k)s) WHERE id IN (SELECT max(id) FROM \"Deal\" GROUP BY tenant_id)", {"k": key_id})
    _save(conn, "slow-encryption", {"key_id": key_id})
    return {"key_id": key_id}


def _heal_slow_encryption(conn: Conn) -> bool:
    state = _pop(conn, "slow-encryption")
    if state is None:
        return False
    slow_key = str(state["key_id"])
    key_id = f"k-{secrets.token_hex(4)}"
    add_key(conn, key_id, FAST_PGP_OPTIONS, slow_kdf=False)
    reencrypt(conn, key_id, only_key=slow_key)
    return True


def _inject_failed_access(conn: Conn) -> dict[str, object]:
    """A burst of real cross-tenant attempts by one actor, as the RLS-subject app role."""
    from vigil.demo.app import APP_ROLE, role_dsn

    targets = victims(conn)
    if len(targets) < 2:
        raise VigilError("failed-access needs at least two tenants; run vigil demo setup")
    actor = f"intruder-{secrets.token_hex(3)}"
    dsn = role_dsn(conn.info.dsn, APP_ROLE)
    with pg.connect(dsn, application_name="vigil-demo-intruder") as app:
        for i in range(FAILED_BURST):
            cross_tenant_attempt(app, targets[0][0], actor, targets[1 + i % (len(targets) - 1)])
    _save(conn, "failed-access", {"actor": actor})
    return {"actor": actor, "attempts": FAILED_BURST * 2}


def _heal_failed_access(conn: Conn) -> bool:
    # The burst is over once injected; the history stays (the access log is evidence) and
    # unusual_patterns clears when the rule's window has passed.
    return _pop(conn, "failed-access") is not None


def _inject_audit_tamper(conn: Conn) -> dict[str, object]:
    seal_for_demo(conn.info.dsn)
    row = conn.execute("SELECT id, actor_id FROM vigil_monitor.audit_log "
                       "ORDER BY id DESC OFFSET 1 LIMIT 1").fetchone()
    if row is None:
        raise VigilError("audit-tamper needs audit rows; run vigil demo load first")
    audit_id, actor = int(str(row[0])), str(row[1])
    # Behind the triggers' back: replica mode skips the append-only trigger.
    conn.execute("SET LOCAL session_replication_role = replica")
    conn.execute("UPDATE vigil_monitor.audit_log SET actor_id = 'tampered' WHERE id = %s",
                 (audit_id,))
    conn.execute("SET LOCAL session_replication_role = origin")
    _save(conn, "audit-tamper", {"id": audit_id, "actor_id": actor})
    return {"audit_id": audit_id}


def _heal_audit_tamper(conn: Conn) -> bool:
    state = _pop(conn, "audit-tamper")
    if state is None:
        return False
    conn.execute("SET LOCAL session_replication_role = replica")
    conn.execute("UPDATE vigil_monitor.audit_log SET actor_id = %s WHERE id = %s",
                 (str(state["actor_id"]), int(str(state["id"]))))
    conn.execute("SET LOCAL session_replication_role = origin")
    return True


def _inject_policy_dropped(conn: Conn) -> dict[str, object]:
    """Drop Deal's tenant_isolation policy, as a careless rename would: the same rule comes
    back under another name, so the workload keeps working while the approved policy is gone."""
    row = conn.execute(
        "SELECT pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid) "
        "FROM pg_policy WHERE polname = 'tenant_isolation' "
        "AND polrelid = 'public.\"Deal\"'::regclass").fetchone()
    if row is None:
        return {"already": True}
    using, check = str(row[0]), str(row[1])
    conn.execute('DROP POLICY tenant_isolation ON public."Deal"')
    conn.execute(f'CREATE POLICY vigil_fault_renamed ON public."Deal" FOR ALL USING ({using}) '
                 f"WITH CHECK ({check})")
    _save(conn, "policy-dropped", {"using": using, "check": check})
    return {"table": 'public."Deal"', "policy": "tenant_isolation"}


def _heal_policy_dropped(conn: Conn) -> bool:
    state = _pop(conn, "policy-dropped")
    if state is None:
        return False
    conn.execute('DROP POLICY IF EXISTS vigil_fault_renamed ON public."Deal"')
    conn.execute(f'CREATE POLICY tenant_isolation ON public."Deal" FOR ALL '
                 f'USING ({state["using"]}) WITH CHECK ({state["check"]})')
    return True


def _inject_audit_trigger_disabled(conn: Conn) -> dict[str, object]:
    conn.execute('ALTER TABLE public."Deal" DISABLE TRIGGER vigil_audit')
    _save(conn, "audit-trigger-disabled", {})
    return {"table": 'public."Deal"', "trigger": "vigil_audit"}


def _heal_audit_trigger_disabled(conn: Conn) -> bool:
    conn.execute('ALTER TABLE public."Deal" ENABLE TRIGGER vigil_audit')
    if _pop(conn, "audit-trigger-disabled") is None:
        return False
    # The workload's writes meanwhile have no audit row: acknowledged, counters restart.
    conn.execute("SELECT vigil_monitor.approve_controls()")
    return True


# Writes of one fault: enough that the few seconds of writes an approval under load may
# count as already seen (controls_approve_margin_seconds) cannot hide them.
UNAUDITED_WRITES = 200


def _inject_unaudited_writes(conn: Conn) -> dict[str, object]:
    """PHI rows updated behind the audit trigger's back: replica mode skips ENABLE triggers."""
    conn.execute("SET LOCAL session_replication_role = replica")
    written = 0
    for _ in range(UNAUDITED_WRITES):  # the same rows again while there are fewer than that
        cur = conn.execute('UPDATE public."Contact" SET key_id = key_id WHERE id IN '
                           '(SELECT id FROM public."Contact" ORDER BY id LIMIT %s)',
                           (UNAUDITED_WRITES - written,))
        written += cur.rowcount
        if cur.rowcount == 0 or written >= UNAUDITED_WRITES:
            break
    conn.execute("SET LOCAL session_replication_role = origin")
    if written == 0:
        raise VigilError("unaudited-writes needs Contact rows; run vigil demo load first")
    _save(conn, "unaudited-writes", {"writes": written})
    return {"table": 'public."Contact"', "writes": written}


def _heal_unaudited_writes(conn: Conn) -> bool:
    if _pop(conn, "unaudited-writes") is None:
        return False
    # What was written stays written; healing is what an operator does after investigating:
    # approve the baseline again, which restarts the write counters.
    conn.execute("SELECT vigil_monitor.approve_controls()")
    return True


# fault -> (inject, heal)
_ACTIONS = {**{name: _statement_fault(name) for name in _STATEMENT_FAULTS},
            "slow-encryption": (_inject_slow_encryption, _heal_slow_encryption),
            "failed-access": (_inject_failed_access, _heal_failed_access),
            "audit-tamper": (_inject_audit_tamper, _heal_audit_tamper),
            "policy-dropped": (_inject_policy_dropped, _heal_policy_dropped),
            "audit-trigger-disabled": (_inject_audit_trigger_disabled,
                                       _heal_audit_trigger_disabled),
            "unaudited-writes": (_inject_unaudited_writes, _heal_unaudited_writes)}
