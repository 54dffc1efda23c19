"""Console sessions live in the router database: logging out ends a session for every copy of
its cookie, a user removed from the config (or whose password changed) is refused, and failed
logins are limited per name and per address across replicas on the router's clock."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from router.app import create_app, housekeeping
from router.config import load_config
from router.migrate import migrate
from vigil.core.clock import ManualClock

from .conftest import REPO, SECRET

TOKEN = "sessions-test-token-0123456789"
USERS = {"alice": ("alice-pass-1", "responder"), "bob": ("bob-pass-1", "read-only")}
PAGES = ["/console/", "/console/history", "/console/overview", "/console/runbook",
         "/console/alerts/1", "/console/incidents/1"]

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_client(fresh_db: str, tmp_path: Path, aiohttp_client: Any) -> MakeClient:
    """A router (one more replica on the same database at each call) on ``clock``, with
    ``users`` as its console's users."""
    migrate(fresh_db)

    async def factory(clock: ManualClock, users: dict[str, tuple[str, str]] = USERS,
                      name: str = "router", trusted_proxies: tuple[str, ...] = ()
                      ) -> TestClient[Any, Any]:
        path = tmp_path / f"{name}.yml"
        path.write_text(yaml.safe_dump({
            "trusted_proxies": list(trusted_proxies),
            "database": {"dsn": fresh_db, "pool_min": 1, "pool_max": 4},
            "auth": {"bearer_token": TOKEN},
            "escalation_file": str(REPO / "config" / "escalation.yml"),
            "oncall_file": str(REPO / "config" / "oncall.yml"),
            "console": {"secret": SECRET, "session_ttl": "1h", "users": {
                u: {"password": p, "role": r} for u, (p, r) in users.items()}}}))
        client: TestClient[Any, Any] = await aiohttp_client(
            create_app(load_config(path), clock=clock, background=False))
        return client
    return factory


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def try_login(client: TestClient[Any, Any], user: str, password: str,
                    via: str | None = None) -> Any:
    """``via``: the client address a trusted proxy names (X-Forwarded-For)."""
    headers = {"X-Forwarded-For": via} if via else {}
    form = await (await client.get("/console/login", headers=headers)).text()
    return await client.post("/console/login", allow_redirects=False, headers=headers, data={
        "username": user, "password": password, "csrf": csrf_of(form)})


async def logged_in(client: TestClient[Any, Any], user: str) -> str:
    """Log ``user`` in; returns their session cookie."""
    resp = await try_login(client, user, USERS[user][0])
    assert resp.status == 303 and resp.headers["Location"] == "/console/"
    return str(resp.cookies["vigil_session"].value)


def as_cookie(session: str) -> dict[str, str]:
    return {"Cookie": f"vigil_session={session}"}


async def fire(client: TestClient[Any, Any], clock: ManualClock) -> int:
    alert = {"status": "firing", "labels": {"alertname": "SessionP3", "severity": "P3"},
             "annotations": {}, "startsAt": clock.now().isoformat(),
             "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "fp-session"}
    resp = await client.post("/api/v1/alertmanager", headers={
        "Authorization": f"Bearer {TOKEN}"}, json={
        "receiver": "vigil", "status": "firing", "alerts": [alert], "version": "4",
        "groupKey": "{}"})
    assert resp.status < 300, await resp.text()
    listing = await client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {TOKEN}"})
    doc = await listing.json()
    [alert_id] = [a["id"] for a in (doc["alerts"] if isinstance(doc, dict) else doc)]
    return int(alert_id)


async def test_a_cookie_copied_before_logout_is_refused_after_it_on_every_page_and_post(
        make_client: MakeClient) -> None:
    clock = ManualClock()
    client = await make_client(clock)
    alert_id = await fire(client, clock)
    stolen = await logged_in(client, "alice")
    page = await client.get("/console/", headers=as_cookie(stolen), allow_redirects=False)
    assert page.status == 200
    csrf = csrf_of(await page.text())
    for path in PAGES:
        resp = await client.get(path, headers=as_cookie(stolen), allow_redirects=False)
        assert resp.status in (200, 404), path     # live: served (alert 1 exists, incident not)

    out = await client.post("/console/logout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/console/login"

    client.session.cookie_jar.clear()
    for path in PAGES:
        resp = await client.get(path, headers=as_cookie(stolen), allow_redirects=False)
        assert (resp.status, resp.headers.get("Location")) == (303, "/console/login"), path
    act = await client.post(f"/console/alerts/{alert_id}/ack", headers=as_cookie(stolen),
                            data={"csrf": csrf, "note": "replayed"}, allow_redirects=False)
    assert (act.status, act.headers.get("Location")) == (303, "/console/login")
    status = await client.get(f"/api/v1/alerts/{alert_id}",
                              headers={"Authorization": f"Bearer {TOKEN}"})
    assert (await status.json())["status"] == "open"
    again = await client.post("/console/logout", headers=as_cookie(stolen),
                              data={"csrf": csrf}, allow_redirects=False)
    assert again.headers.get("Location") == "/console/login"


@pytest.mark.parametrize("change", ["removed", "password", "role"])
async def test_a_session_ends_when_its_user_leaves_the_config_or_their_password_changes(
        make_client: MakeClient, change: str) -> None:
    clock = ManualClock()
    before = await make_client(clock)
    session = await logged_in(before, "bob")
    others = {"removed": {"alice": USERS["alice"]},
              "password": {**USERS, "bob": ("bob-pass-2", "read-only")},
              "role": {**USERS, "bob": ("bob-pass-1", "responder")}}[change]
    # The config changed: a restarted replica (here: another on the same database) reads it.
    after = await make_client(clock, others, name="after")
    resp = await after.get("/console/", headers=as_cookie(session), allow_redirects=False)
    assert (resp.status, resp.headers.get("Location")) == (303, "/console/login")
    # The row is gone: the old config (a replica not yet restarted) refuses it too.
    resp = await before.get("/console/", headers=as_cookie(session), allow_redirects=False)
    assert (resp.status, resp.headers.get("Location")) == (303, "/console/login")
    # An unchanged user's session on the same database is untouched.
    alice = await logged_in(before, "alice")
    assert (await after.get("/console/", headers=as_cookie(alice),
                            allow_redirects=False)).status == 200


async def test_sessions_expire_on_the_router_clock_and_housekeeping_sweeps_them(
        make_client: MakeClient, fresh_db: str) -> None:
    clock = ManualClock()
    client = await make_client(clock)
    session = await logged_in(client, "alice")
    clock.advance(minutes=59)
    assert (await client.get("/console/", headers=as_cookie(session),
                             allow_redirects=False)).status == 200
    await try_login(client, "alice", "wrong")
    clock.advance(minutes=16)          # past session_ttl (1h) and the failure window (15m)
    assert (await client.get("/console/", headers=as_cookie(session),
                             allow_redirects=False)).status == 303
    await housekeeping(client.app)
    rows = await _count(client, "console_sessions"), await _count(client, "console_login_failures")
    assert rows == (0, 0)


async def _count(client: TestClient[Any, Any], table: str) -> int:
    from router.keys import POOL
    async with client.app[POOL].connection() as conn:
        cur = await conn.execute(f"SELECT count(*) FROM vigil_router.{table}")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_the_sixth_failed_login_is_refused_even_with_the_right_password_until_the_window_ends(
        make_client: MakeClient) -> None:
    clock = ManualClock()
    client = await make_client(clock)
    for _ in range(5):
        assert (await try_login(client, "alice", "guess")).status == 401
    refused = await try_login(client, "alice", USERS["alice"][0])
    assert refused.status == 429 and refused.headers["Retry-After"] == "900"
    assert "vigil_session" not in refused.cookies
    # An unknown name gets the same answers: a 429 does not tell who exists.
    for _ in range(5):
        assert (await try_login(client, "mallory", "guess")).status == 401
    assert (await try_login(client, "mallory", "guess")).status == 429
    # Per address: 20 failures (5 + 5 + 1 + 9) from one address refuse every name from it,
    # bob's too, though bob failed once only.
    assert (await try_login(client, "bob", "guess")).status == 401
    for i in range(9):
        assert (await try_login(client, f"user{i}", "guess")).status == 401
    late = await try_login(client, "bob", USERS["bob"][0])
    assert late.status == 429
    clock.advance(minutes=10)
    assert (await try_login(client, "bob", USERS["bob"][0])).headers["Retry-After"] == "300"
    clock.advance(minutes=5)
    assert (await try_login(client, "alice", USERS["alice"][0])).status == 303
    assert (await try_login(client, "bob", USERS["bob"][0])).status == 303


async def test_guesses_from_one_address_do_not_lock_the_user_out_elsewhere(
        make_client: MakeClient) -> None:
    """Counted per name alone, five wrong passwords from anywhere kept a responder out of the
    console for 15 minutes: during an incident, anyone knowing the name could do it."""
    clock = ManualClock()
    client = await make_client(clock, trusted_proxies=("127.0.0.1/32",))
    for _ in range(5):
        assert (await try_login(client, "alice", "guess", via="203.0.113.9")).status == 401
    assert (await try_login(client, "alice", USERS["alice"][0],
                            via="203.0.113.9")).status == 429
    assert (await try_login(client, "alice", USERS["alice"][0],
                            via="198.51.100.7")).status == 303
    # A distributed guess still meets a limit per name: 50 failures from 10 addresses.
    for n in range(10):
        for _ in range(5):
            await try_login(client, "bob", "guess", via=f"192.0.2.{n + 1}")
    late = await try_login(client, "bob", USERS["bob"][0], via="198.51.100.8")
    assert late.status == 429 and "try again in 15 min" in await late.text()


async def test_logging_in_as_someone_else_ends_the_first_session(
        make_client: MakeClient) -> None:
    client = await make_client(ManualClock())
    first = await logged_in(client, "alice")
    form = await (await client.get("/console/login", headers=as_cookie(first))).text()
    resp = await client.post("/console/login", allow_redirects=False, headers=as_cookie(first),
                             data={"username": "bob", "password": USERS["bob"][0],
                                   "csrf": csrf_of(form)})
    assert resp.status == 303, await resp.text()
    assert await _count(client, "console_sessions") == 1     # bob's
    client.session.cookie_jar.clear()
    page = await client.get("/console/", headers=as_cookie(first), allow_redirects=False)
    assert (page.status, page.headers.get("Location")) == (303, "/console/login")


async def test_two_replicas_on_one_database_share_the_limit(make_client: MakeClient) -> None:
    clock = ManualClock()
    one, two = await make_client(clock), await make_client(clock, name="two")
    for client in (one, two, one, two, one):
        assert (await try_login(client, "alice", "guess")).status == 401
    assert (await try_login(two, "alice", USERS["alice"][0])).status == 429
    assert (await try_login(one, "alice", USERS["alice"][0])).status == 429


async def test_concurrent_guesses_on_two_replicas_get_exactly_the_limit(
        make_client: MakeClient) -> None:
    clock = ManualClock()
    one, two = await make_client(clock), await make_client(clock, name="two")
    forms = {c: csrf_of(await (await c.get("/console/login")).text()) for c in (one, two)}

    async def guess(client: TestClient[Any, Any]) -> int:
        resp = await client.post("/console/login", allow_redirects=False, data={
            "username": "alice", "password": "guess", "csrf": forms[client]})
        return resp.status
    answers = await asyncio.gather(*(guess(c) for c in (one, two) * 10))
    # Those that met a guess being counted were refused (429) and counted nothing; the
    # others were counted one at a time: never more than 5 guesses checked.
    assert set(answers) <= {401, 429} and answers.count(401) <= 5
    checked = answers.count(401)
    while (status := await guess(one)) == 401:
        checked += 1
    assert status == 429 and checked == 5


async def test_failed_logins_are_logged_without_the_password_or_an_unknown_name(
        make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client(ManualClock())
    caplog.set_level(logging.WARNING, logger="vigil.router")
    hostile = "evil\nname<script>"
    await try_login(client, hostile, "Secret-Guess-1")
    await try_login(client, "alice", "Secret-Guess-2")
    failed = [r for r in caplog.records if r.getMessage() == "console login failed"]
    assert [r.__dict__["f_user"] for r in failed] == ["<not a user>", "alice"]
    assert all(r.__dict__["f_address"] == "127.0.0.1" for r in failed)
    for record in caplog.records:
        text = repr(record.__dict__)
        assert "Secret-Guess" not in text and "evil" not in text, text

