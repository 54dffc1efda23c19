"""Containment against the real PostgreSQL, through the Python API (vigil.contain): roles,
actors and tenants of the demo application are contained, verified and released exactly."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import psycopg
import pytest
from pghelpers import one, query
from support.polling import wait_for

from vigil import contain, demo
from vigil.contain import Target
from vigil.core.errors import VigilError
from vigil.demo import load


def _reads(app_dsn: str, tenant: str, actor: str = "user-x") -> int:
    with psycopg.connect(app_dsn) as conn, conn.transaction():
        conn.execute("SELECT set_config('app.current_tenant_id', %s, true), "
                     "set_config('app.current_actor_id', %s, true)", (tenant, actor))
        row = conn.execute('SELECT count(*) FROM "Deal"').fetchone()
        assert row is not None
        return int(row[0])


def test_role_sessions_are_terminated_and_new_logins_fail_then_release_restores(
        demo_mod: demo.DemoInfo, login_role: Callable[[], tuple[str, str]]) -> None:
    role, dsn = login_role()
    before = one(demo_mod.admin_dsn, "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s",
                 (role,))
    sessions = [psycopg.connect(dsn, autocommit=True) for _ in range(5)]
    target = Target("role", role)
    plan = contain.plan(demo_mod.admin_dsn, target, incident_id=1, who="alice")
    assert any("NOLOGIN" in s.sql for s in plan.steps)
    started = time.monotonic()
    assert contain.execute(demo_mod.admin_dsn, plan, timeout=5.0) == 0
    assert time.monotonic() - started < 5.0
    for conn in sessions:      # every one of the five is gone
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        conn.close()
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(dsn, connect_timeout=5)
    assert contain.verify(demo_mod.admin_dsn, target).ok
    # Idempotent: planning again plans nothing.
    assert contain.plan(demo_mod.admin_dsn, target, 1, "alice").noop

    release = contain.plan_release(demo_mod.admin_dsn, target, who="alice")
    contain.execute(demo_mod.admin_dsn, release)
    check = contain.verify(demo_mod.admin_dsn, target)
    assert check.ok and check.state == "released", check
    assert one(demo_mod.admin_dsn, "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s",
               (role,)) == before
    assert one(demo_mod.admin_dsn, "SELECT has_database_privilege(%s, %s, 'CONNECT')",
               (role, demo_mod.dbname)) == (True,)
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        conn.execute("SELECT 1")
    assert contain.plan_release(demo_mod.admin_dsn, target, who="alice").noop


def test_a_contained_actors_next_request_is_refused_and_recorded(
        demo_mod: demo.DemoInfo) -> None:
    target = Target("actor", "user-tenant-1-0")
    assert _reads(demo_mod.app_dsn, "tenant-1", target.value) > 0
    contain.execute(demo_mod.admin_dsn, contain.plan(demo_mod.admin_dsn, target, 2, "alice"))
    assert contain.verify(demo_mod.admin_dsn, target).ok
    with psycopg.connect(demo_mod.app_dsn, autocommit=True) as conn:
        load.read(conn, "tenant-1", target.value)    # the demo's own request
    assert _reads(demo_mod.app_dsn, "tenant-1", target.value) == 0
    with psycopg.connect(demo_mod.app_dsn, autocommit=True) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege):
        load.write(conn, "tenant-1", target.value)
    # Another actor of the same tenant is unaffected.
    assert _reads(demo_mod.app_dsn, "tenant-1", "user-tenant-1-1") > 0
    denied = query(demo_mod.admin_dsn,
                   "SELECT resource, success FROM vigil_monitor.access_log "
                   "WHERE actor_id = %s AND reason = 'actor_contained'", (target.value,))
    assert denied and all(not ok for _, ok in denied), denied

    contain.execute(demo_mod.admin_dsn, contain.plan_release(demo_mod.admin_dsn, target, "al"))
    assert contain.verify(demo_mod.admin_dsn, target).ok
    assert _reads(demo_mod.app_dsn, "tenant-1", target.value) > 0
    assert one(demo_mod.admin_dsn, "SELECT count(*) FROM pg_policy WHERE polname = "
               "'vigil_contain'") == (0,)


def test_a_quarantined_tenant_is_invisible_and_unwritable_others_unchanged(
        demo_mod: demo.DemoInfo) -> None:
    before = {t: _reads(demo_mod.app_dsn, t) for t in ("tenant-1", "tenant-2", "tenant-3")}
    target = Target("tenant", "tenant-2")
    plan = contain.plan(demo_mod.admin_dsn, target, 3, "alice")
    contain.execute(demo_mod.admin_dsn, plan)
    assert contain.verify(demo_mod.admin_dsn, target).ok
    assert _reads(demo_mod.app_dsn, "tenant-2") == 0
    assert _reads(demo_mod.app_dsn, "tenant-1") == before["tenant-1"]
    assert _reads(demo_mod.app_dsn, "tenant-3") == before["tenant-3"]
    with psycopg.connect(demo_mod.app_dsn, autocommit=True) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege):
        load.write(conn, "tenant-2", "user-tenant-2-0")
    with psycopg.connect(demo_mod.app_dsn, autocommit=True) as conn:
        load.write(conn, "tenant-1", "user-tenant-1-0")
    # A restrictive policy only narrows access: the controls check sees no policy change.
    assert one(demo_mod.admin_dsn, "SELECT coalesce(sum(policy_changes), 0) "
               "FROM vigil_monitor.control_status()") == (0,)

    contain.execute(demo_mod.admin_dsn, contain.plan_release(demo_mod.admin_dsn, target, "al"))
    assert contain.verify(demo_mod.admin_dsn, target).ok
    assert _reads(demo_mod.app_dsn, "tenant-2") == before["tenant-2"]


def test_a_policy_altered_after_containment_keeping_its_comment_fails_verification(
        demo_mod: demo.DemoInfo) -> None:
    """The comment alone proved nothing: an ALTER POLICY that opens the policy keeps it.
    The seal (schema 021) is the definition as created, compared with the live one."""
    target = Target("tenant", "tenant-2")
    contain.execute(demo_mod.admin_dsn, contain.plan(demo_mod.admin_dsn, target, 5, "alice"))
    try:
        assert contain.verify(demo_mod.admin_dsn, target).ok
        with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
            conn.execute('ALTER POLICY vigil_contain ON "Deal" USING (true) WITH CHECK (true)')
        assert _reads(demo_mod.app_dsn, "tenant-2") > 0   # the quarantine really is open
        checks = {c.name: c for c in contain.verify(demo_mod.admin_dsn, target).checks}
        assert not checks["policies"].ok
        assert 'public.Deal: policy vigil_contain was altered after vigil created it' in \
            checks["policies"].detail
    finally:
        contain.execute(demo_mod.admin_dsn,
                        contain.plan_release(demo_mod.admin_dsn, target, "alice"))
    assert contain.verify(demo_mod.admin_dsn, target).ok


def test_release_removes_the_policy_from_a_table_whose_rls_was_disabled_meanwhile(
        demo_mod: demo.DemoInfo) -> None:
    target = Target("tenant", "tenant-2")
    contain.execute(demo_mod.admin_dsn, contain.plan(demo_mod.admin_dsn, target, 4, "alice"))
    with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
        conn.execute('ALTER TABLE "Deal" DISABLE ROW LEVEL SECURITY')
    try:
        contain.execute(demo_mod.admin_dsn,
                        contain.plan_release(demo_mod.admin_dsn, target, "alice"))
        assert one(demo_mod.admin_dsn, "SELECT count(*) FROM pg_policy WHERE polname = "
                   "'vigil_contain'") == (0,)
    finally:
        with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
            conn.execute('ALTER TABLE "Deal" ENABLE ROW LEVEL SECURITY')


def test_a_long_query_makes_containment_give_up_quickly_with_nothing_changed(
        demo_mod: demo.DemoInfo) -> None:
    """DROP/CREATE POLICY must not queue the application behind a long query's lock."""
    target = Target("tenant", "tenant-3")
    plan = contain.plan(demo_mod.admin_dsn, target, 8, "alice")
    with psycopg.connect(demo_mod.admin_dsn) as blocker:
        # The server ends this transaction after 5 s: without the lock timeout the
        # containment would wait that long, then succeed, and the test fail.
        blocker.execute("SET idle_in_transaction_session_timeout = '5s'")
        blocker.execute('SELECT 1 FROM "Deal" LIMIT 1')   # ACCESS SHARE, held
        started = time.monotonic()
        with pytest.raises(VigilError, match=r"nothing changed.*retry"):
            contain.execute(demo_mod.admin_dsn, plan, lock_timeout=0.3)
        assert time.monotonic() - started < 3.0
        blocker.rollback()
    assert one(demo_mod.admin_dsn, "SELECT count(*) FROM vigil_monitor.containments "
               "WHERE released_at IS NULL") == (0,)
    assert _reads(demo_mod.app_dsn, "tenant-3") > 0


def test_a_plan_made_before_another_containment_ran_is_refused_not_applied(
        demo_mod: demo.DemoInfo) -> None:
    """Two responders planning at once: the second plan would re-create the policies without
    the first one's tenant, so it must not run."""
    first, second = Target("tenant", "tenant-1"), Target("tenant", "tenant-3")
    plan1 = contain.plan(demo_mod.admin_dsn, first, 5, "alice")
    plan2 = contain.plan(demo_mod.admin_dsn, second, 5, "bob")
    contain.execute(demo_mod.admin_dsn, plan1)
    with pytest.raises(VigilError, match="changed since this plan"):
        contain.execute(demo_mod.admin_dsn, plan2)
    contain.execute(demo_mod.admin_dsn, contain.plan(demo_mod.admin_dsn, second, 5, "bob"))
    assert _reads(demo_mod.app_dsn, "tenant-1") == 0 == _reads(demo_mod.app_dsn, "tenant-3")
    for target in (first, second):
        contain.execute(demo_mod.admin_dsn, contain.plan_release(demo_mod.admin_dsn, target,
                                                                 "alice"))
        assert contain.verify(demo_mod.admin_dsn, target).ok
    assert _reads(demo_mod.app_dsn, "tenant-1") > 0 and _reads(demo_mod.app_dsn, "tenant-3") > 0


def test_release_restores_a_roles_exact_prior_state(
        demo_mod: demo.DemoInfo, login_role: Callable[[], tuple[str, str]]) -> None:
    """A role that was NOLOGIN stays NOLOGIN; a CONNECT grant WITH GRANT OPTION comes back
    with its grant option."""
    role, _ = login_role()
    db = demo_mod.dbname
    with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {role} NOLOGIN".encode())
        conn.execute(f"GRANT CONNECT ON DATABASE {db} TO {role} WITH GRANT OPTION".encode())
    acl = ("SELECT rolcanlogin, (SELECT array_agg(a.grantor::regrole::text || ':' || "
           "a.is_grantable ORDER BY 1) FROM pg_database d, aclexplode(d.datacl) a "
           "WHERE d.datname = %s AND a.grantee = r.oid) FROM pg_roles r WHERE rolname = %s")
    before = one(demo_mod.admin_dsn, acl, (db, role))
    target = Target("role", role)
    plan = contain.plan(demo_mod.admin_dsn, target, 6, "alice")
    assert any("NOLOGIN already" in n for n in plan.notes)
    contain.execute(demo_mod.admin_dsn, plan, timeout=2.0)
    assert one(demo_mod.admin_dsn, acl, (db, role)) == (False, None)
    release = contain.plan_release(demo_mod.admin_dsn, target, "alice")
    assert not any("LOGIN" in s.sql and "ALTER ROLE" in s.sql for s in release.steps)
    contain.execute(demo_mod.admin_dsn, release)
    assert contain.verify(demo_mod.admin_dsn, target).ok
    assert one(demo_mod.admin_dsn, acl, (db, role)) == before


def test_a_connect_grant_by_a_role_whose_name_needs_quotes_is_restored(
        demo_mod: demo.DemoInfo, login_role: Callable[[], tuple[str, str]]) -> None:
    """The grantor's name is kept bare (pg_get_userbyid), so SET ROLE "Ops-Admin" works."""
    role, _ = login_role()
    db = demo_mod.dbname
    grantor = f"Ops-Admin-{uuid.uuid4().hex[:6]}"
    with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{grantor}"'.encode())
        conn.execute(f'GRANT CONNECT ON DATABASE {db} TO "{grantor}" WITH GRANT OPTION'.encode())
        conn.execute(f'SET ROLE "{grantor}"'.encode())
        conn.execute(f"GRANT CONNECT ON DATABASE {db} TO {role}".encode())
        conn.execute("RESET ROLE")
    try:
        target = Target("role", role)
        contain.execute(demo_mod.admin_dsn, contain.plan(demo_mod.admin_dsn, target, 7, "al"),
                        timeout=2.0)
        contain.execute(demo_mod.admin_dsn, contain.plan_release(demo_mod.admin_dsn, target,
                                                                 "al"))
        assert contain.verify(demo_mod.admin_dsn, target).ok
        assert one(demo_mod.admin_dsn, "SELECT count(*) FROM pg_database d, "
                   "aclexplode(d.datacl) a WHERE d.datname = %s AND a.grantee = "
                   "%s::regrole AND pg_get_userbyid(a.grantor) = %s",
                   (db, role, grantor)) == (1,)
    finally:
        with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
            conn.execute(f'REVOKE ALL ON DATABASE {db} FROM "{grantor}" CASCADE'.encode())
            conn.execute(f'DROP ROLE "{grantor}"'.encode())


def test_planning_a_tenant_quarantine_probes_the_tenant_index_not_every_row(
        demo_mod: demo.DemoInfo) -> None:
    """An integer tenant column with an index: the plan's "does the tenant have rows" is an
    index probe (the tenant cast to the column's type), and a tenant id that is no integer
    is simply absent, not an error."""
    idx = ("SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes "
           "WHERE indexrelname = 'sharded_tenant'")
    with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.sharded (id bigserial PRIMARY KEY, tenant_id integer, "
                     "v text)")
        conn.execute("INSERT INTO public.sharded (tenant_id, v) SELECT s % 500, 'x' "
                     "FROM generate_series(1, 50000) s")
        conn.execute("CREATE INDEX sharded_tenant ON public.sharded (tenant_id)")
        conn.execute("ALTER TABLE public.sharded ENABLE ROW LEVEL SECURITY")
        conn.execute("ANALYZE public.sharded")
    try:
        before = int(one(demo_mod.admin_dsn, idx)[0])
        plan = contain.plan(demo_mod.admin_dsn, Target("tenant", "7"), 9, "alice")
        assert not any("no row of tenant" in n for n in plan.notes)
        wait_for(lambda: int(one(demo_mod.admin_dsn, idx)[0]), lambda n: n > before,
                 timeout=5.0, describe="an index scan on sharded_tenant")
        plan = contain.plan(demo_mod.admin_dsn, Target("tenant", "tenant-1"), 9, "alice")
        assert plan.steps   # planned: the id that is no integer raised no cast error
    finally:
        with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE public.sharded")
