"""The demo workload: tenant-scoped reads and writes, PHI decrypts, now and then a denied
cross-tenant request, and key rotation, so every vigil_monitor object fills with real
measurements. Who does what, and when, is ``vigil.demo.traffic``: ordinary use that vigil's
own rules never flag.

PHI values are synthetic and are read only to be discarded; nothing here logs a value.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from vigil.core import pg
from vigil.core.logs import fields
from vigil.demo.app import _DIAGNOSES, _NAMES, FAST_PGP_OPTIONS, DemoInfo, add_key, ensure_tenants
from vigil.demo.app import tenant_ids as _tenant_ids
from vigil.demo.traffic import DENIED_EVERY, Rule, Traffic

log = logging.getLogger("vigil.demo")
Conn = psycopg.Connection[tuple[object, ...]]
REENCRYPT_BATCH = 25


@dataclass
class LoadStats:
    ops: int = 0
    reads: int = 0
    phi_reads: int = 0
    writes: int = 0
    updates: int = 0
    denied: int = 0
    errors: int = 0
    rotations: int = 0
    elapsed: float = 0.0

    def line(self) -> str:
        return (f"load: {self.elapsed:6.1f}s ops={self.ops} reads={self.reads} "
                f"phi_reads={self.phi_reads} writes={self.writes} updates={self.updates} "
                f"denied={self.denied} rotations={self.rotations} errors={self.errors}")


def _context(conn: Conn, tenant: str, actor: str) -> None:
    conn.execute("SELECT set_config('app.current_tenant_id', %s, true), "
                 "set_config('app.current_actor_id', %s, true)", (tenant, actor))


def _access(conn: Conn, resource: str, action: str, ok: bool, reason: str | None = None) -> None:
    conn.execute("SELECT vigil_monitor.record_access(%s, %s, %s, %s)",
                 (resource, action, ok, reason))


def _phi(conn: Conn, table: str, op: str, started: float, rows: int) -> None:
    ms = (time.perf_counter() - started) * 1000
    conn.execute("SELECT vigil_monitor.record_phi_access(%s, %s, %s, %s)", (table, op, ms, rows))


def read(conn: Conn, tenant: str, actor: str) -> None:
    with conn.transaction():
        _context(conn, tenant, actor)
        conn.execute("SELECT id, title, stage, amount FROM \"Deal\" WHERE stage = %s "
                     "ORDER BY id DESC LIMIT 10", (random.choice(("open", "won", "lost")),))
        _access(conn, "Deal", "read", True)


def phi_read(conn: Conn, tenant: str, actor: str, table: str = "Deal") -> None:
    query = ("SELECT id, decrypt_phi(patient_name_enc, key_id), decrypt_phi(diagnosis_enc, key_id) "
             "FROM \"Deal\" ORDER BY id DESC LIMIT 3") if table == "Deal" else (
             "SELECT id, decrypt_phi(email_enc, key_id), decrypt_phi(phone_enc, key_id) "
             "FROM \"Contact\" ORDER BY id DESC LIMIT 2")
    with conn.transaction():
        _context(conn, tenant, actor)
        started = time.perf_counter()
        rows = conn.execute(query).fetchall()  # values discarded on purpose
        _phi(conn, f'public."{table}"', "read", started, len(rows))
        _access(conn, table, "phi_read", True)


def write(conn: Conn, tenant: str, actor: str) -> None:
    with conn.transaction():
        _context(conn, tenant, actor)
        started = time.perf_counter()
        conn.execute(
            "INSERT INTO \"Deal\" (tenant_id, title, amount, patient_name_enc, diagnosis_enc, "
            "key_id) "
            "SELECT %s, %s, %s, encrypt_phi(%s, k), encrypt_phi(%s, k), k FROM active_key_id() k",
            (tenant, f"Deal {secrets.token_hex(3)}", random.randint(100, 90000),
             random.choice(_NAMES), random.choice(_DIAGNOSES)))
        _phi(conn, 'public."Deal"', "write", started, 1)
        _access(conn, "Deal", "write", True)


def update(conn: Conn, tenant: str, actor: str) -> None:
    with conn.transaction():
        _context(conn, tenant, actor)
        conn.execute("UPDATE \"Deal\" SET stage = %s, updated_at = now() WHERE id = "
                     "(SELECT id FROM \"Deal\" ORDER BY id DESC OFFSET %s LIMIT 1)",
                     (random.choice(("open", "won", "lost")), random.randint(0, 10)))
        _access(conn, "Deal", "update", True)


def cross_tenant_attempt(conn: Conn, tenant: str, actor: str, victim: tuple[str, int]) -> None:
    """A real attempt on another tenant's row: RLS hides it on read and refuses the write
    (two denied requests)."""
    stale_link(conn, tenant, actor, victim, write=False)
    stale_link(conn, tenant, actor, victim, write=True)


def stale_link(conn: Conn, tenant: str, actor: str, victim: tuple[str, int],
               write: bool) -> None:
    """An ordinary user's one denied request (a stale link, a wrong tenant in a form): a
    read of another tenant's row that RLS hides, or a write WITH CHECK refuses."""
    victim_tenant, victim_id = victim
    if not write:
        with conn.transaction():
            _context(conn, tenant, actor)
            seen = conn.execute("SELECT id FROM \"Deal\" WHERE id = %s", (victim_id,)).fetchall()
            _access(conn, "Deal", "read", bool(seen), None if seen else "cross_tenant_denied")
        return
    try:
        with conn.transaction():
            _context(conn, tenant, actor)
            conn.execute("INSERT INTO \"Deal\" (tenant_id, title) VALUES (%s, 'x')",
                         (victim_tenant,))
    except psycopg.errors.InsufficientPrivilege:  # RLS WITH CHECK refused it
        with conn.transaction():
            _context(conn, tenant, actor)
            _access(conn, "Deal", "write", False, "cross_tenant_denied")


def rule_settings(conn: Conn) -> Rule:
    """The unusual-pattern rule as configured in this database's ``vigil_monitor.settings``."""
    row = conn.execute(
        "SELECT vigil_monitor.setting('unusual_window_seconds'), "
        "vigil_monitor.setting('unusual_failed_threshold'), "
        "vigil_monitor.setting('unusual_min_requests')").fetchone()
    default = Rule()
    if row is None:
        return default
    return Rule(window=float(str(row[0])) if row[0] is not None else default.window,
                failed_min=int(str(row[1])) if row[1] is not None else default.failed_min,
                min_requests=int(str(row[2])) if row[2] is not None else default.min_requests)


def victims(admin: Conn) -> list[tuple[str, int]]:
    rows = admin.execute("SELECT tenant_id, min(id) FROM \"Deal\" GROUP BY tenant_id ORDER BY 1")
    return [(str(t), int(str(i))) for t, i in rows]


def rotate_key(admin: Conn, pgp_options: str = FAST_PGP_OPTIONS, *, slow_kdf: bool = False) -> str:
    """Create and activate a new key, then re-encrypt every row to it, recording progress."""
    key_id = f"k-{secrets.token_hex(4)}"
    with admin.transaction():
        add_key(admin, key_id, pgp_options, slow_kdf=slow_kdf)
    reencrypt(admin, key_id)
    return key_id


def _scalar(conn: Conn, query: sql.Composed | str, params: object = None) -> int:
    row = conn.execute(query, params).fetchone()  # type: ignore[call-overload]
    return int(str(row[0])) if row and row[0] is not None else 0


def reencrypt(admin: Conn, to_key: str, only_key: str | None = None) -> int:
    """Re-encrypt rows (all not on ``to_key``, or only those on ``only_key``) in batches."""
    cond = (sql.SQL("key_id = {}").format(sql.Literal(only_key)) if only_key
            else sql.SQL("key_id <> {}").format(sql.Literal(to_key)))
    plans = (("Deal", "patient_name_enc", "diagnosis_enc"), ("Contact", "email_enc", "phone_enc"))
    total = sum(_scalar(admin, sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
        sql.Identifier(t), cond)) for t, _, _ in plans)
    job = _scalar(admin, "SELECT vigil_monitor.start_reencryption(%s, %s, %s)",
                  (only_key or "previous", to_key, total))
    done = 0
    for table, c1, c2 in plans:
        stmt = sql.SQL(
            "UPDATE {t} SET {a} = encrypt_phi(decrypt_phi({a}, key_id), {k}), "
            "{b} = encrypt_phi(decrypt_phi({b}, key_id), {k}), key_id = {k} "
            "WHERE id IN (SELECT id FROM {t} WHERE {cond} LIMIT {n})").format(
            t=sql.Identifier(table), a=sql.Identifier(c1), b=sql.Identifier(c2),
            k=sql.Literal(to_key), cond=cond, n=sql.Literal(REENCRYPT_BATCH))
        while True:
            with admin.transaction():
                admin.execute("SELECT set_config('app.current_actor_id', 'key-rotator', true)")
                changed = admin.execute(stmt).rowcount
                done += changed
                admin.execute("SELECT vigil_monitor.record_reencryption_progress(%s, %s, false)",
                              (job, done))
            if changed < REENCRYPT_BATCH:
                break
    admin.execute("SELECT vigil_monitor.record_reencryption_progress(%s, %s, true)", (job, done))
    return done


def run_load(demo: DemoInfo, *, duration: float = 10.0, rate: float = 20.0, tenants: int = 3,
             rotate_every: float | None = None, denied_every: float = DENIED_EVERY,
             stop: threading.Event | None = None,
             progress: Callable[[LoadStats], None] | None = None) -> LoadStats:
    """Run the workload for ``duration`` seconds (or until ``stop`` is set) at ``rate`` ops/s.

    One denied cross-tenant request every ``denied_every`` seconds (0: none), whatever the
    rate. Keys rotate every ``rotate_every`` seconds (default: once, halfway), except while
    the slow-encryption fault holds, since rotating would heal it.
    """
    if rate <= 0:
        raise ValueError("rate must be > 0 operations per second")
    stop = stop or threading.Event()
    stats = LoadStats()
    rotate_every = rotate_every if rotate_every is not None else max(duration / 2, 1.0)
    ops: list[tuple[Callable[[Conn, str, str], None], int]] = [
        (read, 35), (phi_read, 25), (lambda c, t, a: phi_read(c, t, a, "Contact"), 5),
        (write, 15), (update, 20)]
    funcs, weights = zip(*ops, strict=True)
    counters = ("reads", "phi_reads", "phi_reads", "writes", "updates")
    with pg.connect(demo.admin_dsn, application_name="vigil-demo-admin") as admin, \
            pg.connect(demo.app_dsn, application_name="vigil-demo-app") as app:
        ensure_tenants(admin, tenants)
        targets = victims(admin)
        start = time.monotonic()
        traffic = Traffic(_tenant_ids(tenants), rate, rule_settings(admin), start,
                          denied_every=denied_every)
        deadline = start + duration
        next_rotation, next_progress = start + rotate_every, start + 1.0
        step = traffic.next(start)
        while not stop.wait(max(0.0, min(step.at, deadline) - time.monotonic())):
            now = time.monotonic()
            stats.elapsed = now - start
            if stats.elapsed >= duration:
                break
            try:
                if step.denied:
                    others = [v for v in targets if v[0] != step.tenant]
                    if others:
                        stale_link(app, step.tenant, step.actor, random.choice(others),
                                   write=stats.denied % 2 == 1)
                        stats.denied += 1
                else:
                    i = random.choices(range(len(funcs)), weights=weights)[0]
                    funcs[i](app, step.tenant, step.actor)
                    setattr(stats, counters[i], getattr(stats, counters[i]) + 1)
                if now >= next_rotation and not _slow_encryption_active(admin):
                    rotate_key(admin)
                    stats.rotations += 1
                    next_rotation = time.monotonic() + rotate_every
            except psycopg.Error as exc:
                stats.errors += 1
                log.warning("demo operation failed", extra=fields(error=type(exc).__name__))
                if app.closed or admin.closed:
                    raise
            stats.ops += 1
            if progress and now >= next_progress:
                progress(stats)
                next_progress = now + 1.0
            step = traffic.next(time.monotonic())
        stats.elapsed = time.monotonic() - start
    if progress:
        progress(stats)
    return stats


def _slow_encryption_active(admin: Conn) -> bool:
    return admin.execute("SELECT 1 FROM demo_private.fault_state "
                         "WHERE fault = 'slow-encryption'").fetchone() is not None


class LoadThread(threading.Thread):
    """``run_load`` in the background: ``t = LoadThread(demo, rate=10); t.start(); t.stop()``."""

    def __init__(self, demo: DemoInfo, **kwargs: object) -> None:
        super().__init__(name="vigil-demo-load", daemon=True)
        self._demo, self._kwargs = demo, kwargs
        self._stop_event = threading.Event()
        self.stats: LoadStats | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        kwargs = {"duration": float("inf"), **self._kwargs}
        try:
            self.stats = run_load(self._demo, stop=self._stop_event, **kwargs)  # type: ignore[arg-type]
        except BaseException as exc:  # surfaced to the caller via stop()
            self.error = exc

    def stop(self, timeout: float = 30.0) -> LoadStats | None:
        self._stop_event.set()
        self.join(timeout)
        if self.error:
            raise self.error
        return self.stats
