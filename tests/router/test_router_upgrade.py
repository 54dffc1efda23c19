"""A router database installed before the shared migration runner (versions 0001-0004 in
vigil_router.schema_migrations) upgrades in place: the runner applies only what is new,
keeps the old records, and an escalation started before the upgrade carries on after it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from router_helpers import Router, am_alert, am_payload

from router.migrate import TRACK, latest, migrate
from vigil.core import migrations

TODAY = 4   # the router's schema version before vigil/core/migrations.py existed


@pytest.fixture
def router_db(fresh_db: str) -> str:
    """A router database as the old router/migrate.py left it at version 0004."""
    with psycopg.connect(fresh_db, autocommit=True) as conn, conn.transaction():
        assert migrations.apply(conn, TRACK, up_to=TODAY) == [1, 2, 3, 4]
    return fresh_db


def _versions(dsn: str) -> list[tuple[int, str, Any]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT version, name, applied_at "
                            "FROM vigil_router.schema_migrations ORDER BY version").fetchall()


async def test_an_existing_router_database_upgrades_in_place(
        router_db: str, make_router: Callable[..., Any]) -> None:
    router: Router = await make_router()
    resp = await router.post(am_payload(am_alert("BeforeUpgrade", "P1")))
    assert resp.status == 200
    [(aid,)] = router.sql("SELECT id FROM vigil_router.alerts WHERE alertname = 'BeforeUpgrade'")
    ready = await router.client.get("/-/ready")
    assert ready.status == 503 and f"migrations at {TODAY}" in await ready.text()
    before = _versions(router_db)

    shipped = [m.version for m in migrations.shipped(TRACK)]   # assigned numbers: gaps allowed
    assert shipped[-1] == latest()
    assert migrate(router_db) == shipped[TODAY:]
    assert _versions(router_db)[:TODAY] == before          # old records kept as they were
    assert [v for v, _, _ in _versions(router_db)] == shipped
    assert migrate(router_db) == []                         # idempotent
    assert (await router.client.get("/-/ready")).status == 200

    # The escalation written at version 0004 fires and resolves on the upgraded schema.
    await router.run()
    assert router.sink.targets("escalation", aid) == ["security-team"]
    pages = [r for r in router.sink.received if r.kind == "escalation"]
    assert pages[0].key == f"vigil-a{aid}-step1-security-team"
    assert pages[0].payload["alert"]["alertname"] == "BeforeUpgrade"
    status, _ = await router.api("POST", f"/api/v1/alerts/{aid}/resolve", json={"who": "ops"})
    assert status == 200
    await router.run()
    assert router.sink.targets("resolved", aid) == ["cto", "legal", "security-team"]
