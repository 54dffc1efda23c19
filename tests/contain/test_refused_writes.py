"""A contained actor's refused INSERTs are counted (schema 020), through the rollback the
refusal's error causes: the count a responder reads goes 1, 2 with the attempts, other
actors advance nothing, and release, re-containment and the drift check keep working."""

from __future__ import annotations

import hashlib
import json
import uuid
from importlib import resources

import psycopg
import pytest
from pghelpers import one
from psycopg import sql

from router.client_cli import RouterClient
from vigil import contain, demo
from vigil.contain import Target, policies
from vigil.demo import app, load
from vigil.recovery.incident import read as read_incident

from .conftest import TOKEN, RouterProc
from .test_contain_cli import vigil

COUNTERS = ("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'vigil_monitor' AND c.relname LIKE 'refused\\_writes\\_%'")
SUMS = ("SELECT coalesce(sum(coalesce(pg_sequence_last_value(c.oid), 0)), 0) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'vigil_monitor' "
        "AND c.relkind = 'S' AND c.relname LIKE 'refused\\_writes\\_%'")


def _insert(app_dsn: str, tenant: str, actor: str) -> None:
    with psycopg.connect(app_dsn, autocommit=True) as conn:
        load.write(conn, tenant, actor)


def _refused_insert(app_dsn: str, tenant: str, actor: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        _insert(app_dsn, tenant, actor)


def test_each_refused_insert_of_a_contained_actor_is_counted_through_its_rollback(
        demo_mod: demo.DemoInfo) -> None:
    admin, target = demo_mod.admin_dsn, Target("actor", "user-tenant-1-2")
    contain.execute(admin, contain.plan(admin, target, 21, "alice"))
    try:
        check = contain.verify(admin, target)
        assert check.ok and check.refused_writes == 0, check
        _refused_insert(demo_mod.app_dsn, "tenant-1", target.value)
        assert contain.verify(admin, target).refused_writes == 1
        # Inside a transaction the application rolls back to a savepoint and commits: still
        # counted, once per attempt.
        with psycopg.connect(demo_mod.app_dsn) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                load.write(conn, "tenant-1", target.value)
            conn.commit()
        check = contain.verify(admin, target)
        assert check.ok and check.refused_writes == 2, check
        assert check.to_json()["refused_writes"] == 2
        assert any(c.name == "refused writes counted" and "2 write(s) refused" in c.detail
                   for c in check.checks), check
        # With RETURNING the new row must also pass USING (admits): the write check comes
        # first, so the attempt is still counted, once.
        with psycopg.connect(demo_mod.app_dsn) as conn, \
                pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT set_config('app.current_tenant_id', 'tenant-1', true), "
                         "set_config('app.current_actor_id', %s, true)", (target.value,))
            conn.execute('INSERT INTO "Deal" (tenant_id, title) VALUES (%s, %s) RETURNING id',
                         ("tenant-1", "x"))
        assert contain.verify(admin, target).refused_writes == 3
    finally:
        contain.execute(admin, contain.plan_release(admin, target, "alice"))
    released = contain.verify(admin, target)
    assert released.ok and released.state == "released" and released.refused_writes == 3
    # Released: the actor writes again, and that advances no counter.
    _insert(demo_mod.app_dsn, "tenant-1", target.value)
    assert contain.verify(admin, target).refused_writes == 3


def test_other_actors_write_as_before_and_advance_nothing(demo_mod: demo.DemoInfo) -> None:
    admin, target = demo_mod.admin_dsn, Target("actor", "user-tenant-2-0")
    contain.execute(admin, contain.plan(admin, target, 22, "alice"))
    try:
        before = one(admin, SUMS)
        for _ in range(3):
            _insert(demo_mod.app_dsn, "tenant-2", "user-tenant-2-1")
            _insert(demo_mod.app_dsn, "tenant-3", "user-tenant-3-0")
        assert one(admin, SUMS) == before
        assert contain.verify(admin, target).refused_writes == 0
    finally:
        contain.execute(admin, contain.plan_release(admin, target, "alice"))


def test_release_then_contain_again_counts_afresh_and_verifies_both_times(
        demo_mod: demo.DemoInfo) -> None:
    admin, target = demo_mod.admin_dsn, Target("actor", "user-tenant-3-1")
    counters = one(admin, COUNTERS)[0]
    for incident, attempts in ((23, 2), (24, 1)):
        contain.execute(admin, contain.plan(admin, target, incident, "alice"))
        assert contain.verify(admin, target).ok   # drift check: the policies are as planned
        for _ in range(attempts):
            _refused_insert(demo_mod.app_dsn, "tenant-3", target.value)
        assert contain.verify(admin, target).refused_writes == attempts
        contain.execute(admin, contain.plan_release(admin, target, "alice"))
        released = contain.verify(admin, target)
        assert released.ok and released.refused_writes == attempts, released
    # One counter per containment, each kept after release (the history's counts).
    assert one(admin, COUNTERS)[0] == counters + 2
    rows = one(admin, "SELECT array_agg(refused_writes ORDER BY containment_id) FROM "
               "vigil_monitor.contained_write_refusals() WHERE target = %s", (target.value,))
    assert rows == ([2, 1],)


def test_a_counter_gone_refuses_as_before_and_verification_says_so(
        demo_mod: demo.DemoInfo) -> None:
    """A containment without a counter (dropped by hand): the application's INSERT fails with
    the same error, never another one, and verification reports the writes uncounted."""
    admin, target = demo_mod.admin_dsn, Target("actor", "user-tenant-1-3")
    contain.execute(admin, contain.plan(admin, target, 25, "alice"))
    try:
        cid = one(admin, "SELECT id FROM vigil_monitor.containments WHERE target = %s "
                  "AND released_at IS NULL", (target.value,))[0]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP SEQUENCE vigil_monitor.refused_writes_{int(cid)}".encode())
        _refused_insert(demo_mod.app_dsn, "tenant-1", target.value)
        check = contain.verify(admin, target)
        assert not check.ok and check.refused_writes is None
        assert [c.name for c in check.checks if not c.ok] == ["refused writes counted"]
    finally:
        contain.execute(admin, contain.plan_release(admin, target, "alice"))


def _as_before_020(admin: str) -> None:
    """Turn the live policies into what schema 014's vigil made (WITH CHECK = USING, the
    comment a hash of USING alone) and drop the counters: a database contained, then
    upgraded."""
    with psycopg.connect(admin, autocommit=True) as conn:
        actors, tenants = policies.active(conn)
        for t in policies.rls_tables(conn):
            expr = policies.expression(t, actors, tenants)
            if expr is None:
                continue
            legacy = "vigil:" + hashlib.sha256(expr.using.as_string(conn).encode()
                                               ).hexdigest()[:32]
            conn.execute(sql.SQL("ALTER POLICY vigil_contain ON {} WITH CHECK ({})").format(
                t.ident, expr.using).as_string(conn).encode())
            conn.execute(sql.SQL("COMMENT ON POLICY vigil_contain ON {} IS {}").format(
                t.ident, sql.Literal(legacy)).as_string(conn).encode())
        for (name,) in conn.execute("SELECT relname FROM pg_class WHERE relkind = 'S' AND "
                                    "relname LIKE 'refused\\_writes\\_%'").fetchall():
            conn.execute(sql.SQL("DROP SEQUENCE vigil_monitor.{}").format(
                sql.Identifier(name)).as_string(conn).encode())


def test_containments_active_when_schema_020_arrives_verify_and_count_from_then_on(
        demo_mod: demo.DemoInfo) -> None:
    admin = demo_mod.admin_dsn
    actor, tenant = Target("actor", "user-tenant-2-3"), Target("tenant", "tenant-3")
    for incident, target in ((26, actor), (26, tenant)):
        contain.execute(admin, contain.plan(admin, target, incident, "alice"))
    try:
        _as_before_020(admin)
        assert not contain.verify(admin, actor).ok   # legacy policies are not today's plan
        _refused_insert(demo_mod.app_dsn, "tenant-2", actor.value)   # uncounted, as before
        migration = resources.files("vigil.schema").joinpath("sql/020_refused_writes.sql")
        reader = f"vigil_reader_{uuid.uuid4().hex[:8]}"   # `vigil db grants --role` before 020
        with psycopg.connect(admin, autocommit=True) as conn, conn.transaction():
            conn.execute(f"CREATE ROLE {reader}".encode())
            conn.execute(f"GRANT EXECUTE ON FUNCTION vigil_monitor.security_access_metrics() "
                         f"TO {reader}".encode())
            conn.execute(migration.read_text("utf-8").encode())
            conn.execute(migration.read_text("utf-8").encode())   # again: changes nothing
            assert conn.execute("SELECT has_function_privilege(%s, 'vigil_monitor."
                                "contained_write_refusals()', 'EXECUTE')", (reader,)
                                ).fetchone() == (True,)
            conn.execute(f"DROP OWNED BY {reader}".encode())
            conn.execute(f"DROP ROLE {reader}".encode())
        for target in (actor, tenant):
            check = contain.verify(admin, target)
            assert check.ok, check
        assert contain.verify(admin, actor).refused_writes == 0
        _refused_insert(demo_mod.app_dsn, "tenant-2", actor.value)
        assert contain.verify(admin, actor).refused_writes == 1
        _refused_insert(demo_mod.app_dsn, "tenant-3", "user-tenant-3-0")   # quarantined
        _insert(demo_mod.app_dsn, "tenant-1", "user-tenant-1-0")
    finally:
        for target in (actor, tenant):
            contain.execute(admin, contain.plan_release(admin, target, "alice"))
            assert contain.verify(admin, target).ok


def test_the_cli_shows_the_count_and_the_release_carries_it_to_the_recovery_report(
        demo_mod: demo.DemoInfo, router_proc: RouterProc) -> None:
    """`vigil incident contain --verify` reads the count as it stands; the release's
    verification records it on the incident's timeline, where the recovery report reads it."""
    admin, actor = demo_mod.admin_dsn, "user-tenant-2-2"
    iid = int(RouterClient(router_proc.url, TOKEN).post("/api/v1/incidents", {
        "type": "breach", "severity": "P2", "description": "d", "created_by": "alice"})["id"])
    common = ["--url", router_proc.url, "--dsn", admin, "--who", "alice"]
    code, out = vigil("incident", "contain", str(iid), "--actor", actor, *common)
    assert code == 0 and "refused writes counted: 0 write(s) refused" in out, out
    for attempts in (1, 2):
        _refused_insert(demo_mod.app_dsn, "tenant-2", actor)
        code, out = vigil("incident", "contain", str(iid), "--actor", actor, "--verify",
                          "--json", *common)
        assert code == 0 and json.loads(out)["verification"]["refused_writes"] == attempts
    code, out = vigil("incident", "contain", str(iid), "--actor", actor, "--verify", *common)
    assert code == 0 and "2 write(s) refused since contained" in out, out
    code, out = vigil("incident", "release", str(iid), "--json", *common)
    assert code == 0, out
    assert json.loads(out)["released"][0]["verification"]["refused_writes"] == 2
    client = RouterClient(router_proc.url, TOKEN)
    doc = read_incident(client.get, iid)
    assert [e["detail"]["verification"]["refused_writes"] for e in doc["releases"]] == [2]


def test_the_write_check_runs_once_per_statement_not_once_per_row(
        demo_mod: demo.DemoInfo) -> None:
    """For an actor not contained, admits_write is one call per statement (an InitPlan),
    however many rows the statement writes: no per-row cost for everyone else."""
    admin, target = demo_mod.admin_dsn, Target("actor", "intruder-9")
    contain.execute(admin, contain.plan(admin, target, 27, "alice"))
    try:
        with psycopg.connect(admin) as conn:
            conn.execute("SET LOCAL track_functions = 'pl'")
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(app.APP_ROLE)))
            conn.execute("SELECT set_config('app.current_tenant_id', 'tenant-1', true), "
                         "set_config('app.current_actor_id', 'user-tenant-1-0', true)")
            updated = conn.execute('UPDATE "Deal" SET stage = stage').rowcount
            inserted = conn.execute(
                'INSERT INTO "Deal" (tenant_id, title, amount) SELECT \'tenant-1\', '
                "'bulk', s FROM generate_series(1, 50) s").rowcount
            conn.execute("RESET ROLE")
            calls = conn.execute("SELECT pg_stat_get_xact_function_calls("
                                 "'vigil_contain.admits_write(text)'::regprocedure)").fetchone()
            conn.rollback()
        assert updated > 1 and inserted == 50
        assert calls == (2,)   # one per statement
    finally:
        contain.execute(admin, contain.plan_release(admin, target, "alice"))
