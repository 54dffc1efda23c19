"""Personal API tokens (auth.users.NAME.token): a request made with one acts as its user,
whatever the body names; a read-only user's token reads but never acts; a requester's own
token can't approve their P1 containment; the shared token works as before; no token is ever
logged."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from router_helpers import AUTH, TOKEN, CliResult, Router, am_alert, am_payload

from vigil.core.secrets import scrub

ALICE = "alice-personal-token-0123456789"
BOB = "bob-personal-token-0123456789ab"
VICTOR = "victor-readonly-token-012345678"
USERS = {"users": {"alice": {"token": ALICE, "role": "responder"},
                   "bob": {"token": BOB, "role": "responder"},
                   "victor": {"token": VICTOR}}}   # role defaults to read-only


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _call(router: Router, token: str, method: str, path: str, **kw: Any
                ) -> tuple[int, Any]:
    resp = await router.client.request(method, path, headers=_as(token), **kw)
    return resp.status, await resp.json()


@pytest.fixture
async def people(make_router: Callable[..., Any]) -> Router:
    r: Router = await make_router(auth=USERS)
    return r


async def _incident(router: Router, severity: str = "P1") -> int:
    status, inc = await router.api("POST", "/api/v1/incidents", json={
        "type": "breach", "severity": severity, "description": "d", "created_by": "carol"})
    assert status == 201
    return int(inc["id"])


async def test_a_personal_token_acts_as_its_user_and_refuses_another_name(
        people: Router) -> None:
    status, me = await _call(people, ALICE, "GET", "/api/v1/whoami")
    assert (status, me) == (200, {"user": "alice", "role": "responder", "via": "api-token"})
    iid = await _incident(people)
    notes = f"/api/v1/incidents/{iid}/notes"
    status, noted = await _call(people, ALICE, "POST", notes, json={"note": "looking"})
    assert status == 201 and noted["who"] == "alice"
    status, noted = await _call(people, ALICE, "POST", notes,
                                json={"note": "again", "who": "alice"})
    assert status == 201
    status, body = await _call(people, ALICE, "POST", notes, json={"note": "x", "who": "bob"})
    assert status == 403 and body["field"] == "who" and "alice" in body["error"]
    status, body = await _call(people, ALICE, "POST", "/api/v1/incidents", json={
        "type": "t", "severity": "P3", "description": "d", "created_by": "bob"})
    assert status == 403 and body["field"] == "created_by"
    status, body = await _call(people, ALICE, "POST", f"/api/v1/incidents/{iid}/status",
                               json={"status": "responding", "who": "mallory"})
    assert status == 403 and body["field"] == "who"
    _, tl = await people.api("GET", f"/api/v1/incidents/{iid}/timeline")
    mine = [e for e in tl["events"] if e["kind"] == "note"]
    assert [(e["actor"], e["detail"]["via"]) for e in mine] == [("alice", "api-token")] * 2
    # The shared token names whoever the body says, unverified, as before.
    status, noted = await people.api("POST", notes, json={"note": "n", "who": "bob"})
    assert status == 201 and noted["who"] == "bob"
    _, shared = await people.api("GET", "/api/v1/whoami")
    assert shared == {"user": None, "role": "responder", "via": "api"}


async def test_a_personal_token_acks_as_its_user(people: Router) -> None:
    assert (await people.post(am_payload(am_alert("Tok", "P2")))).status == 200
    [(alert_id,)] = people.sql("SELECT id FROM vigil_router.alerts")
    status, body = await _call(people, BOB, "POST", f"/api/v1/alerts/{alert_id}/ack",
                               json={"who": "alice"})
    assert status == 403 and body["field"] == "who"
    status, row = await _call(people, BOB, "POST", f"/api/v1/alerts/{alert_id}/ack", json={})
    assert status == 200 and row["acked_by"] == "bob"
    [(actor, via)] = people.sql("SELECT actor, detail->>'via' FROM vigil_router.events "
                                "WHERE kind = 'acked'")
    assert (actor, via) == ("bob", "api-token")


async def test_resolves_and_status_changes_record_how_their_actor_was_known(
        people: Router) -> None:
    """Acks and notes said `via`; a resolve and an incident's status change did not, so the
    timeline could not tell an authenticated resolver from a name typed with --who."""
    assert (await people.post(am_payload(am_alert("TokR", "P2")))).status == 200
    [(alert_id,)] = people.sql("SELECT id FROM vigil_router.alerts")
    status, row = await _call(people, BOB, "POST", f"/api/v1/alerts/{alert_id}/resolve",
                              json={})
    assert status == 200 and row["resolved_by"] == "bob"
    iid = await _incident(people)
    for to in ("responding", "contained"):
        status, _ = await _call(people, BOB, "POST", f"/api/v1/incidents/{iid}/status",
                                json={"status": to})
        assert status == 200, to
    rows = people.sql("SELECT kind, actor, detail->>'via' FROM vigil_router.events "
                      "WHERE kind IN ('resolved', 'status_changed') ORDER BY id")
    assert rows == [("resolved", "bob", "api-token"), ("status_changed", "bob", "api-token"),
                    ("status_changed", "bob", "api-token")]


async def test_a_read_only_token_reads_but_every_post_is_refused(people: Router) -> None:
    iid = await _incident(people)
    status, _ = await _call(people, VICTOR, "GET", "/api/v1/alerts")
    assert status == 200
    status, _ = await _call(people, VICTOR, "GET", f"/api/v1/incidents/{iid}/timeline")
    assert status == 200
    for path, body in [(f"/api/v1/incidents/{iid}/notes", {"note": "n"}),
                       (f"/api/v1/incidents/{iid}/containments",
                        {"database": "appdb", "kind": "role", "target": "x"}),
                       ("/api/v1/alertmanager", {"version": "4", "alerts": []})]:
        status, refused = await _call(people, VICTOR, "POST", path, json=body)
        assert status == 403 and "read-only" in refused["error"], path
    assert people.sql("SELECT count(*) FROM vigil_router.events WHERE kind = 'note'") == [(0,)]


async def test_a_requester_can_not_approve_their_own_p1_containment_with_their_token(
        people: Router) -> None:
    iid = await _incident(people, "P1")
    base = f"/api/v1/incidents/{iid}/containments"
    ask = {"database": "appdb", "kind": "role", "target": "suspect",
           "plan": [{"sql": "ALTER ROLE suspect NOLOGIN", "effect": "no new logins"}]}
    status, row = await _call(people, ALICE, "POST", base, json=ask)
    assert status == 201 and row["requested_by"] == "alice" and not row["approved"]
    approve = f"{base}/{row['id']}/approve"
    # Naming someone else changes nothing: the token is alice's, and alice asked.
    for body in ({}, {"who": "bob"}, {"who": "alice"}):
        status, refused = await _call(people, ALICE, "POST", approve, json=body)
        assert status == 409 and refused["field"] == "who", body
    # Another person's token can't approve in a third name either.
    status, refused = await _call(people, BOB, "POST", approve, json={"who": "carol"})
    assert status == 403 and refused["field"] == "who"
    status, done = await _call(people, BOB, "POST", approve, json={})
    assert status == 200 and done["approved"] and done["approved_by"] == ["bob"]
    _, tl = await people.api("GET", f"/api/v1/incidents/{iid}/timeline")
    by_kind = {e["kind"]: e for e in tl["events"]}
    asked, approved = by_kind["containment_requested"], by_kind["containment_approved"]
    assert (asked["actor"], asked["detail"]["via"]) == ("alice", "api-token")
    assert (approved["actor"], approved["detail"]["via"]) == ("bob", "api-token")


async def test_a_requester_named_with_the_shared_token_is_refused_to_their_own_token(
        people: Router) -> None:
    iid = await _incident(people, "P1")
    base = f"/api/v1/incidents/{iid}/containments"
    status, row = await people.api("POST", base, json={
        "database": "appdb", "kind": "actor", "target": "7", "who": "alice"})
    assert status == 201
    status, refused = await _call(people, ALICE, "POST", f"{base}/{row['id']}/approve",
                                  json={})
    assert status == 409 and refused["field"] == "who"


async def test_no_token_reaches_the_logs(make_router: Callable[..., Any],
                                         caplog: pytest.LogCaptureFixture) -> None:
    # An earlier CLI test in this process may have replaced the root's handlers and quieted
    # the access log (vigil's logs.setup): listen on the loggers themselves, at DEBUG.
    names = ("aiohttp.access", "vigil.router", "aiohttp")
    for name in ("", *names):
        caplog.set_level(logging.DEBUG, logger=name)
    loggers = [logging.getLogger(n) for n in names]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    try:
        await _requests_with_tokens(make_router)
    finally:
        for logger in loggers:
            logger.removeHandler(caplog.handler)
    assert caplog.records   # the access log at least: the check below sees real lines
    for secret in (ALICE, BOB, VICTOR, TOKEN):
        assert secret not in caplog.text


async def _requests_with_tokens(make_router: Callable[..., Any]) -> None:
    people: Router = await make_router(auth=USERS)
    assert ALICE not in repr(people.config)
    # Registered as secrets at load: scrubbed wherever a log line or an error would show them.
    assert scrub(f"a {ALICE} b {VICTOR}") == "a *** b ***"
    for token in (ALICE, VICTOR, BOB + "x", TOKEN):
        await people.client.get("/api/v1/whoami", headers=_as(token))
        await people.client.post("/api/v1/alertmanager", headers=_as(token),
                                 json={"version": "4", "alerts": []})
    await people.client.get(f"/api/v1/alerts?token={ALICE}", headers=AUTH)


async def _cli(router: Router, token_file: Path, *argv: str) -> CliResult:
    """``vigil ARGV --url <the test router> --token-file FILE``, as run_cli but as a person."""
    from vigil.cli import main

    url = str(router.client.make_url("")).rstrip("/")
    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                return main([*argv, "--url", url, "--token-file", str(token_file)])
            except SystemExit as exc:
                return int(exc.code or 0)

    code = await asyncio.to_thread(call)
    return CliResult(code, out.getvalue(), err.getvalue())


async def test_the_cli_with_a_personal_token_file_acts_as_its_user_without_who(
        people: Router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "somebody-else")   # $USER is not who the token says
    monkeypatch.delenv("VIGIL_ROUTER_TOKEN", raising=False)
    alice, bob = tmp_path / "alice.token", tmp_path / "bob.token"
    alice.write_text(ALICE + "\n")
    bob.write_text(BOB + "\n")
    iid = await _incident(people, "P1")
    res = await _cli(people, alice, "incident", "note", str(iid), "checked the logs")
    assert res.code == 0, res.err
    assert people.sql("SELECT actor FROM vigil_router.events WHERE kind = 'note'") == [
        ("alice",)]
    status, _ = await _call(people, ALICE, "POST", f"/api/v1/incidents/{iid}/containments",
                            json={"database": "appdb", "kind": "role", "target": "suspect"})
    assert status == 201
    res = await _cli(people, alice, "incident", "approve", str(iid), "role:suspect")
    assert res.code == 1 and "409" in res.err and "other than the requester" in res.err
    res = await _cli(people, bob, "incident", "approve", str(iid), "role:suspect", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["approved_by"] == ["bob"]
    res = await _cli(people, tmp_path / "missing.token", "incident", "list")
    assert res.code == 1 and "--token-file: cannot read" in res.err


async def test_one_list_of_people_a_password_for_the_console_a_token_for_the_api(
        make_router: Callable[..., Any]) -> None:
    r: Router = await make_router(
        auth={"users": {"alice": {"token": ALICE, "password": "alice-pass-1",
                                  "role": "responder"}}},
        console={"secret": "one-list-secret-0123456789-abcdefghijk"})
    page = await (await r.client.get("/console/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    resp = await r.client.post("/console/login", allow_redirects=False, data={
        "csrf": csrf.group(1), "username": "alice", "password": "alice-pass-1"})
    assert resp.status == 303 and resp.headers["Location"] == "/console/"
    status, me = await _call(r, ALICE, "GET", "/api/v1/whoami")
    assert status == 200 and me["user"] == "alice"
