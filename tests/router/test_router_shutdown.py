"""Graceful stop releases the delivery leases the router holds: after a rolling restart an
interrupted page is retried by the other replica at once, not after the lease (60 s)."""

from __future__ import annotations

from typing import Any

from router_helpers import Router, am_alert, am_payload, until

from router.keys import ENGINE, SENDER


async def test_graceful_stop_releases_leases_so_another_replica_sends_at_once(
        make_router: Any) -> None:
    first: Router = await make_router()
    first.sink.hang.add("security-team")          # the page is in flight when we stop
    assert (await first.post(am_payload(am_alert("Roll", "P2")))).status == 200
    app = first.client.server.app
    await app[ENGINE].tick()
    assert await app[SENDER].pump() == 1
    leased = "SELECT lease_until IS NOT NULL, attempts, state FROM vigil_router.outbox"
    await until(lambda: bool(first.sink.hang), 5, "delivery started")
    assert first.sql(leased) == [(True, 1, "pending")]

    await first.client.close()                    # aiohttp cleanup: what SIGTERM runs
    assert first.sql(leased) == [(False, 0, "pending")]

    first.sink.hang.clear()
    second: Router = await make_router()          # the other replica, same clock instant
    await second.run()
    assert second.sink.targets("escalation") == ["security-team"]
    assert second.sql(leased)[0][2] == "sent"
