"""The containment policy's seal against the one who can alter the policy: the table's owner.

ALTER POLICY and COMMENT ON POLICY need the same right (owning the table), so a seal kept in
the policy's comment is the tamperer's to rewrite: with the planned part alone (which read
as a policy made before the seal existed) or with the md5 of the altered definition (the
formula is schema 012's, pg_policy and pg_get_expr are readable by every role). The seal
must live where the owner can't write (vigil_monitor.contain_policy_seals, schema 022).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from importlib import resources

import psycopg
import pytest
from psycopg import sql

from vigil import contain, demo
from vigil.contain import Target
from vigil.demo.app import role_dsn

# Schema 012's policy_fingerprint, spelled out by someone who can read the source.
_FORGED = """
SELECT md5(format('%s|%s|%s|%s|%s', p.polcmd, p.polpermissive,
                  (SELECT string_agg(x, ',' ORDER BY x) FROM (SELECT CASE WHEN r = 0
                          THEN 'public' ELSE r::regrole::text END AS x
                          FROM unnest(p.polroles) r) roles),
                  coalesce(pg_get_expr(p.polqual, p.polrelid), '-'),
                  coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-')))
FROM pg_policy p WHERE p.polrelid = 'public."Deal"'::regclass AND p.polname = 'vigil_contain'
"""


@pytest.fixture
def owner(demo_mod: demo.DemoInfo) -> Iterator[str]:
    """A login role that owns "Deal" for the test (the application's owner, compromised)."""
    name = f"vigil_owner_{secrets.token_hex(4)}"
    with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public' "
                           "AND tablename = 'Deal'").fetchone()
        assert row is not None
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        conn.execute(sql.SQL('ALTER TABLE "Deal" OWNER TO {}').format(sql.Identifier(name)))
        try:
            yield role_dsn(demo_mod.admin_dsn, name)
        finally:
            conn.execute(sql.SQL('ALTER TABLE "Deal" OWNER TO {}').format(
                sql.Identifier(str(row[0]))))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.mark.parametrize("comment", ["planned part only", "forged seal"])
def test_the_owner_who_opens_the_policy_cannot_rewrite_the_seal_to_match(
        demo_mod: demo.DemoInfo, owner: str, comment: str) -> None:
    target = Target("tenant", "tenant-2")
    contain.execute(demo_mod.admin_dsn, contain.plan(demo_mod.admin_dsn, target, 5, "alice"))
    try:
        assert contain.verify(demo_mod.admin_dsn, target).ok
        with psycopg.connect(owner, autocommit=True) as conn:
            note = conn.execute("SELECT obj_description(oid, 'pg_policy') FROM pg_policy "
                                "WHERE polname = 'vigil_contain' "
                                "AND polrelid = '\"Deal\"'::regclass").fetchone()
            assert note is not None
            planned = str(note[0]).partition(" live:")[0]
            conn.execute('ALTER POLICY vigil_contain ON "Deal" USING (true) WITH CHECK (true)')
            if comment == "forged seal":
                conn.execute("SET search_path = pg_catalog, pg_temp")
                forged = conn.execute(_FORGED).fetchone()
                assert forged is not None
                planned += " live:" + str(forged[0])
            conn.execute(sql.SQL('COMMENT ON POLICY vigil_contain ON public."Deal" IS {}')
                         .format(sql.Literal(planned)))
        checks = {c.name: c for c in contain.verify(demo_mod.admin_dsn, target).checks}
        assert not checks["policies"].ok, checks["policies"].detail
        assert "public.Deal: policy vigil_contain was altered after vigil created it" in \
            checks["policies"].detail
    finally:
        contain.execute(demo_mod.admin_dsn,
                        contain.plan_release(demo_mod.admin_dsn, target, "alice"))
    assert contain.verify(demo_mod.admin_dsn, target).ok


def test_a_policy_sealed_by_021_and_altered_since_still_reads_altered_after_022(
        demo_mod: demo.DemoInfo) -> None:
    """022 takes a 021 seal (the comment's live part) as it was written, not the definition
    as it stands at the upgrade, so an ALTER between the two is not blessed."""
    target = Target("tenant", "tenant-2")
    admin = demo_mod.admin_dsn
    contain.execute(admin, contain.plan(admin, target, 5, "alice"))
    migration = resources.files("vigil.schema").joinpath("sql/022_contain_policy_seal_row.sql")
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DELETE FROM vigil_monitor.contain_policy_seals")   # a 021 database
            conn.execute('ALTER POLICY vigil_contain ON "Deal" USING (true) WITH CHECK (true)')
            conn.execute(migration.read_text("utf-8").encode())
            conn.execute(migration.read_text("utf-8").encode())   # again: changes nothing
        checks = {c.name: c for c in contain.verify(admin, target).checks}
        assert "public.Deal: policy vigil_contain was altered after vigil created it" in \
            checks["policies"].detail
    finally:
        contain.execute(admin, contain.plan_release(admin, target, "alice"))
    assert contain.verify(admin, target).ok
