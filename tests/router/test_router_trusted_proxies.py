"""trusted_proxies: behind a trusted reverse proxy the console's per-address login limit and
the access log see the client (X-Forwarded-For's rightmost untrusted address); from any other
peer, or with no trusted_proxies (the default), the header is ignored."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from router_helpers import Sink, write_router_yml

from router import netaddr
from router.app import create_app
from router.config import load_config
from vigil.core.clock import ManualClock

SECRET = "proxy-test-secret-0123456789-abcdefghij"
CLIENT = "203.0.113.7"
# What the client wrote itself, then the address the proxy saw it connect from.
FORWARDED = {"X-Forwarded-For": f"198.51.100.99, {CLIENT}"}


async def _router(router_db: str, sink: Sink, tmp_path: Path, pytest_aiohttp: tuple[Any, Any],
                  trusted: list[str] | None) -> Any:
    aiohttp_server, aiohttp_client = pytest_aiohttp
    extra: dict[str, Any] = {} if trusted is None else {"trusted_proxies": trusted}
    path = write_router_yml(tmp_path, router_db, console={
        "secret": SECRET, "users": {"alice": {"password": "alice-pass-1",
                                              "role": "responder"}}}, **extra)
    config = load_config(path, env={"VIGIL_SINK_URL": sink.url})
    app = create_app(config, clock=ManualClock(), background=False)
    server = await aiohttp_server(app, access_log_class=netaddr.AccessLogger)
    return await aiohttp_client(server)


async def _fail_login(client: Any) -> None:
    page = await (await client.get("/console/login")).text()
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match
    resp = await client.post("/console/login", headers=FORWARDED, data={
        "csrf": match.group(1), "username": "alice", "password": "wrong"})
    assert resp.status == 401


def _counted(router_db: str) -> list[str]:
    import psycopg
    with psycopg.connect(router_db, autocommit=True) as conn:
        rows = conn.execute("SELECT key FROM vigil_router.console_login_failures "
                            "WHERE scope = 'address'").fetchall()
    return [str(r[0]) for r in rows]


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]


@pytest.fixture
def served(router_db: str, sink: Sink, tmp_path: Path, aiohttp_server: Any,
           aiohttp_client: Any) -> Any:
    async def serve(trusted: list[str] | None) -> Any:
        return await _router(router_db, sink, tmp_path, (aiohttp_server, aiohttp_client),
                             trusted)
    return serve


@pytest.mark.parametrize(("trusted", "seen"), [
    (["127.0.0.0/8"], CLIENT),        # the test client's peer is the trusted proxy
    (None, "127.0.0.1"),              # default: nobody's header is believed
    (["10.0.0.0/8"], "127.0.0.1"),    # the peer is not one of the trusted proxies
])
async def test_the_login_limit_and_the_access_log_count_the_client_behind_a_trusted_proxy(
        served: Any, router_db: str, caplog: pytest.LogCaptureFixture,
        trusted: list[str] | None, seen: str) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    access = logging.getLogger("aiohttp.access")
    access.addHandler(caplog.handler)   # whatever an earlier test did to the root's handlers
    try:
        client = await served(trusted)
        await _fail_login(client)
    finally:
        access.removeHandler(caplog.handler)
    assert _counted(router_db) == [seen]
    # One line, seen once or twice (the root's handler and ours may both be caplog's).
    [line] = {ln for ln in _access_lines(caplog) if "POST /console/login" in ln}
    assert line.startswith(f"{seen} ")
    assert "198.51.100.99" not in line   # what the client wrote is never taken
