"""The containment policy's seal against the one who can alter the policy: the table's owner.

ALTER POLICY and COMMENT ON POLICY need the same right (owning the table), so a seal kept in
the policy's comment is the tamperer's to rewrite: with the planned part alone (which read
as a policy made before the seal existed) or with the md5 of the altered definition (schema
012's formula over pg_policy and pg_get_expr, which every role may read). The seal lives
where the owner can't write (vigil_monitor.contain_policy_seals, schema 022).
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

QUARANTINE = Target("tenant", "tenant-2")
DEAL = "'public.\"Deal\"'::regclass"


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


@pytest.fixture
def quarantined(demo_mod: demo.DemoInfo) -> Iterator[str]:
    """tenant-2 quarantined (verified), released after the test (verified again)."""
    admin = demo_mod.admin_dsn
    contain.execute(admin, contain.plan(admin, QUARANTINE, 5, "alice"))
    assert contain.verify(admin, QUARANTINE).ok
    yield admin
    contain.execute(admin, contain.plan_release(admin, QUARANTINE, "alice"))
    assert contain.verify(admin, QUARANTINE).ok


def _policies_check(admin: str) -> str:
    checks = {c.name: c for c in contain.verify(admin, QUARANTINE).checks}
    assert not checks["policies"].ok, checks["policies"].detail
    return checks["policies"].detail


@pytest.mark.parametrize("comment", ["planned part only", "forged seal"])
def test_the_owner_who_opens_the_policy_cannot_rewrite_the_seal_to_match(
        quarantined: str, owner: str, comment: str) -> None:
    with psycopg.connect(owner, autocommit=True) as conn:
        note = conn.execute("SELECT obj_description(oid, 'pg_policy') FROM pg_policy WHERE "
                            f"polname = 'vigil_contain' AND polrelid = {DEAL}").fetchone()
        assert note is not None
        conn.execute('ALTER POLICY vigil_contain ON "Deal" USING (true) WITH CHECK (true)')
        rewritten = str(note[0]).partition(" live:")[0]
        if comment == "forged seal":
            # What the owner can compute (schema 012's md5, public data), taken here from
            # the function itself, which only the admin may call.
            with psycopg.connect(quarantined) as admin:
                forged = admin.execute("SELECT vigil_monitor.policy_fingerprint(oid) FROM "
                                       f"pg_policy WHERE polname = 'vigil_contain' AND "
                                       f"polrelid = {DEAL}").fetchone()
            assert forged is not None
            rewritten += " live:" + str(forged[0])
        conn.execute(sql.SQL('COMMENT ON POLICY vigil_contain ON "Deal" IS {}').format(
            sql.Literal(rewritten)))
    assert "public.Deal: policy vigil_contain was altered after vigil created it" in \
        _policies_check(quarantined)


def test_a_policy_sealed_by_021_and_altered_since_still_reads_altered_after_022(
        quarantined: str) -> None:
    """022 takes a 021 seal (the comment's live part) as it was written, not the definition
    as it stands at the upgrade, so an ALTER between the two is not blessed."""
    migration = resources.files("vigil.schema").joinpath("sql/022_contain_policy_seal_row.sql")
    with psycopg.connect(quarantined, autocommit=True) as conn:
        conn.execute("DELETE FROM vigil_monitor.contain_policy_seals")   # a 021 database
        conn.execute('ALTER POLICY vigil_contain ON "Deal" USING (true) WITH CHECK (true)')
        conn.execute(migration.read_text("utf-8").encode())
        conn.execute(migration.read_text("utf-8").encode())   # again: changes nothing
    assert "public.Deal: policy vigil_contain was altered after vigil created it" in \
        _policies_check(quarantined)


def test_a_vigil_contain_policy_vigil_did_not_seal_fails_verification(
        quarantined: str) -> None:
    with psycopg.connect(quarantined, autocommit=True) as conn:
        conn.execute(f"DELETE FROM vigil_monitor.contain_policy_seals WHERE relid = {DEAL}")
    assert "public.Deal: policy vigil_contain has no seal" in _policies_check(quarantined)
