"""Approving a pending containment from the console: a responder's Approve button (in a real
Chromium) records the logged-in user, ``via console``; a read-only user gets no button and a
forged POST is refused; the requester can't approve their own request; approving twice
counts once; an API approval (--who, shared token) reads as not verified."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait
from support.console import console_session

from .conftest import TOKEN, USERS, Live
from .test_console_browser import login, session_of

pytestmark = pytest.mark.timeout(120)


def _api(live: Live, path: str, doc: dict[str, Any]) -> dict[str, Any]:
    resp = requests.post(f"{live.base}{path}", json=doc, timeout=10,
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code < 300, resp.text
    out: dict[str, Any] = resp.json()
    return out


def _p1_request(live: Live, who: str, target: str) -> tuple[int, int]:
    """A P1 incident and a containment requested on it, as ``vigil incident contain --who``
    does: (incident id, containment id)."""
    iid = int(_api(live, "/api/v1/incidents", {"type": "breach", "severity": "P1",
                                                "description": "d"})["id"])
    row = _api(live, f"/api/v1/incidents/{iid}/containments", {
        "database": "appdb", "kind": "role", "target": target, "who": who,
        "plan": [{"sql": f"ALTER ROLE {target} NOLOGIN", "effect": "no new logins"}]})
    assert row["state"] == "awaiting_approval" and row["approvals_needed"] == 1
    return iid, int(row["id"])


def _approvals(live: Live, cid: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    [(approved_by,)] = live.sql("SELECT approved_by FROM vigil_router.containments "
                                "WHERE id = %s", cid)
    events = live.sql("SELECT actor, detail->>'via' FROM vigil_router.events WHERE kind = "
                      "'containment_approved' AND (detail->>'containment_id')::int = %s", cid)
    return list(approved_by), events


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_second_responder_approves_in_the_browser_and_the_timeline_names_them(
        live: Live, browser: Any) -> None:
    iid, cid = _p1_request(live, "carol", "app_writer")
    page = f"{live.base}/console/incidents/{iid}"
    approve = f"{page}/containments/{cid}/approve"

    login(browser, live, "victor")              # read-only: sees the request, no button
    browser.get(page)
    pending = browser.find_element(By.ID, "pending-containments").text
    assert "role app_writer appdb carol" in pending and "0 of 1" in pending, pending
    assert browser.find_elements(By.ID, f"approve-{cid}") == []
    csrf = browser.find_element(By.NAME, "csrf").get_attribute("value")
    refused = session_of(browser).post(approve, data={"csrf": csrf}, timeout=10)
    assert refused.status_code == 403 and "read-only" in refused.text
    assert _approvals(live, cid) == ([], [])

    login(browser, live, "alice")
    browser.get(page)
    browser.find_element(By.ID, f"approve-{cid}").click()
    WebDriverWait(browser, 10).until(
        lambda d: not d.find_elements(By.ID, "pending-containments"))
    assert browser.current_url == page
    timeline = browser.find_element(By.ID, "timeline").text
    assert "containment_approved alice approved containment of role app_writer on appdb, " \
           "requested by carol, via console (logged-in user)" in timeline, timeline
    assert _approvals(live, cid) == (["alice"], [("alice", "console")])


def test_the_requester_is_refused_and_a_second_approval_counts_once(live: Live) -> None:
    s, csrf = console_session(live.base, "alice", USERS["alice"][0])
    iid, own = _p1_request(live, "alice", "own_role")
    page = f"{live.base}/console/incidents/{iid}"
    shown = _text(s.get(page, timeout=10).text)
    assert "your request: another responder approves" in shown, shown
    resp = s.post(f"{page}/containments/{own}/approve", data={"csrf": csrf}, timeout=10)
    assert resp.status_code == 409
    assert "Not approved: you (alice) requested this containment; a responder other than " \
           "the requester must approve it." in _text(resp.text)
    assert _approvals(live, own) == ([], [])

    iid, cid = _p1_request(live, "carol", "twice_role")
    url = f"{live.base}/console/incidents/{iid}/containments/{cid}/approve"
    assert s.post(url, data={}, timeout=10).status_code == 403       # no CSRF token
    anonymous = requests.post(url, data={"csrf": csrf}, timeout=10, allow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["Location"] == "/console/login"
    for _ in range(2):
        done = s.post(url, data={"csrf": csrf}, timeout=10, allow_redirects=False)
        assert done.status_code == 303 and done.headers["Location"] == f"/console/incidents/{iid}"
    assert _approvals(live, cid) == (["alice"], [("alice", "console")])
    approved = s.get(f"{live.base}/console/incidents/{iid}", timeout=10).text
    assert 'id="pending-containments"' not in approved        # approved: no longer pending
    missing = s.post(f"{live.base}/console/incidents/{iid}/containments/999999/approve",
                     data={"csrf": csrf}, timeout=10)
    assert missing.status_code == 404 and "no such containment" in missing.text


def test_an_api_approval_reads_as_a_name_nobody_verified(live: Live) -> None:
    iid, cid = _p1_request(live, "carol", "api_role")
    _api(live, f"/api/v1/incidents/{iid}/containments/{cid}/approve", {"who": "dave"})
    assert _approvals(live, cid) == (["dave"], [("dave", "api")])
    s, _ = console_session(live.base, "victor", USERS["victor"][0])
    shown = _text(s.get(f"{live.base}/console/incidents/{iid}", timeout=10).text)
    assert "approved containment of role api_role on appdb, requested by carol, via API " \
           "(name as given with the shared token, not verified)" in shown, shown
    # Contained and released from the CLI: there is nothing left to approve.
    ok = {"who": "carol", "verification": {"ok": True, "checks": []}}
    for outcome in ("contained", "released"):
        _api(live, f"/api/v1/incidents/{iid}/containments/{cid}/{outcome}", ok)
    s, csrf = console_session(live.base, "alice", USERS["alice"][0])
    late = s.post(f"{live.base}/console/incidents/{iid}/containments/{cid}/approve",
                  data={"csrf": csrf}, timeout=10)
    assert late.status_code == 409 and "this containment was released" in late.text
    assert _approvals(live, cid) == (["dave"], [("dave", "api")])
