"""The console in a real headless Chromium (selenium): a responder acknowledges a P1 with a
note, a read-only user can't, forged POSTs are refused, an ack link acknowledges on POST
only and once, no PHI label value reaches a page, the security headers are on every page,
screenshots of the main pages are not blank, and a cookie copied before logging out is
refused after it."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from report.chromium import png_pixels
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from router.console import tokens
from router.oncall import now_and_next

from .conftest import CANARY, SECRET, TOKEN, USERS, Live

pytestmark = pytest.mark.timeout(120)


def login(driver: Any, live: Live, user: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{live.base}/console/login")
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(USERS[user][0])
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url == f"{live.base}/console/")
    assert driver.find_element(By.CLASS_NAME, "who").text == f"{user} ({USERS[user][1]})"


def wait_text(driver: Any, element_id: str, text: str) -> None:
    """Until the element (on the page the last click led to) shows ``text``: a click's
    navigation may still be under way when it returns."""
    def shows(d: Any) -> bool:
        try:
            return bool(d.find_element(By.ID, element_id).text == text)
        except (NoSuchElementException, StaleElementReferenceException):
            return False
    WebDriverWait(driver, 10).until(shows)


def session_of(driver: Any) -> requests.Session:
    """A requests session holding the browser's cookies (to forge what a page can't)."""
    s = requests.Session()
    for c in driver.get_cookies():
        s.cookies.set(c["name"], c["value"], path=c.get("path", "/"))
    return s


def shot(driver: Any, folder: Path, name: str) -> Path:
    """The page at half scale (decoding a full-size PNG in pure Python would cost seconds),
    saved under the module's tmp dir, and checked not to be (nearly) one colour."""
    png = folder / f"{name}.png"
    size = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "clip": {
        "x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 0.5}})
    png.write_bytes(base64.b64decode(shot["data"]))
    _, _, rows = png_pixels(png)
    colors = {row[i:i + 3] for row in rows[::8] for i in range(0, len(row), 3 * 8)}
    assert len(colors) > 3, f"{name}: the screenshot is (nearly) one colour"
    return png


def no_phi(driver: Any) -> None:
    assert CANARY not in driver.page_source


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("console-screenshots")
    yield folder
    assert {p.name for p in folder.glob("*.png")} >= {
        "open.png", "alert.png", "history.png", "overview.png"}


def test_a_responder_acknowledges_a_p1_with_a_note_and_the_timeline_shows_it(
        live: Live, browser: Any, shots: Path) -> None:
    alert_id = live.fire("ConsoleP1", "P1", patient_name=CANARY)
    login(browser, live, "alice")
    section = browser.find_element(By.CSS_SELECTOR, "section.level-p1")
    assert "ConsoleP1" in section.text
    # The countdown to step 2 and who it pages (escalation.yml: the CTO after 15 minutes).
    assert re.search(r"step 2 in 1[45]m \d\ds pages cto \(Chief Technology Officer\)",
                     section.text), section.text
    # Who is on call now and next in config/oncall.yml's schedule, at the router's clock.
    [item] = now_and_next(live.config.oncall.schedules, live.clock.now())
    panel = browser.find_element(By.CSS_SELECTOR, "section.oncall").text
    assert item.next is not None
    assert f"primary {item.now.person} {item.next.person}" in panel, panel
    # console.js (a file: the CSP allows no inline script) keeps the countdown ticking.
    countdown = section.find_element(By.CLASS_NAME, "countdown")
    first = countdown.text
    WebDriverWait(browser, 5).until(lambda _: countdown.text != first)
    no_phi(browser)
    shot(browser, shots, "open")

    browser.find_element(By.LINK_TEXT, "ConsoleP1").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith(f"/alerts/{alert_id}"))
    note = browser.find_element(By.ID, "ack-note")
    assert note.get_attribute("required") is not None      # P1: a note is required
    # Why the first person was paged, from the matrix, on the timeline.
    timeline = browser.find_element(By.ID, "timeline").text
    assert "paged security-team" in timeline and "P1 step 1: Immediate Response Team" in timeline
    note.send_keys("containment started, looking at the RLS policy")
    browser.find_element(By.ID, "ack-button").click()
    wait_text(browser, "status", "acked")
    timeline = browser.find_element(By.ID, "timeline").text
    assert "acked" in timeline and "alice" in timeline
    assert "containment started, looking at the RLS policy" in timeline
    assert live.sql("SELECT status, acked_by FROM vigil_router.alerts WHERE id = %s",
                    alert_id) == [("acked", "alice")]
    no_phi(browser)
    shot(browser, shots, "alert")

    browser.get(f"{live.base}/console/history?name=consolep1&level=P1&who=alice")
    assert "ConsoleP1" in browser.find_element(By.TAG_NAME, "table").text
    no_phi(browser)
    shot(browser, shots, "history")
    browser.get(f"{live.base}/console/overview")
    assert len(browser.find_elements(By.CSS_SELECTOR, "figure.panel svg")) == 10
    assert browser.find_element(By.LINK_TEXT, "Audit write latency p95").get_attribute(
        "href").endswith("/console/runbook#audit-performance")
    no_phi(browser)
    shot(browser, shots, "overview")
    refused = [e["message"] for e in browser.get_log("browser")
               if "Content Security Policy" in e["message"]]
    assert refused == [], refused     # nothing on any page needed what the CSP forbids


def test_a_read_only_user_gets_no_button_and_forged_posts_are_refused(
        live: Live, browser: Any) -> None:
    alert_id = live.fire("ConsoleP2ReadOnly", "P2")
    login(browser, live, "victor")
    browser.get(f"{live.base}/console/alerts/{alert_id}")
    assert "ConsoleP2ReadOnly" in browser.page_source
    assert browser.find_elements(By.ID, "ack-button") == []
    assert browser.find_elements(By.ID, "resolve-button") == []
    # The read-only session's own valid CSRF token (from its logout form) is not enough.
    csrf = browser.find_element(By.NAME, "csrf").get_attribute("value")
    url = f"{live.base}/console/alerts/{alert_id}/ack"
    viewer = session_of(browser)
    assert viewer.post(url, data={"csrf": csrf, "note": "x"}, timeout=10).status_code == 403

    login(browser, live, "alice")
    responder = session_of(browser)
    assert responder.post(url, data={"note": "x"}, timeout=10).status_code == 403
    assert responder.post(url, data={"csrf": csrf, "note": "x"}, timeout=10).status_code == 403
    anonymous = requests.post(url, data={"note": "x"}, timeout=10, allow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["Location"] == "/console/login"
    assert live.sql("SELECT status FROM vigil_router.alerts WHERE id = %s",
                    alert_id) == [("open",)]
    # A P2 without a note is refused by the server too, not only by the browser.
    browser.get(f"{live.base}/console/alerts/{alert_id}")
    good = browser.find_element(By.CSS_SELECTOR, "#ack-form input[name=csrf]")
    resp = responder.post(url, data={"csrf": good.get_attribute("value"), "note": " "},
                          timeout=10)
    assert resp.status_code == 400 and "note: required" in resp.text
    resolved = responder.post(f"{live.base}/console/alerts/{alert_id}/resolve", data={
        "csrf": good.get_attribute("value"), "note": "false positive: load test"}, timeout=10)
    assert resolved.status_code == 200 and "false positive: load test" in resolved.text
    assert live.sql("SELECT status, resolved_by FROM vigil_router.alerts WHERE id = %s",
                    alert_id) == [("resolved", "alice")]


def _page_for(live: Live, alert_id: int) -> dict[str, Any]:
    [page] = [p for p in live.pages
              if p["kind"] == "escalation" and p["alert"]["id"] == alert_id]
    return page


def _link_for(live: Live, alert_id: int) -> str:
    url = _page_for(live, alert_id)["ack_url"]
    assert isinstance(url, str)
    return url


def _events(live: Live, alert_id: int) -> list[tuple[Any, ...]]:
    return live.sql("SELECT kind, actor, detail FROM vigil_router.events WHERE alert_id = %s "
                    "ORDER BY id", alert_id)


def test_an_ack_link_changes_nothing_on_get_acks_on_post_and_refuses_a_replay(
        live: Live, browser: Any) -> None:
    alert_id = live.fire("ConsoleLink", "P2")
    url = _link_for(live, alert_id)
    before = _events(live, alert_id)
    browser.delete_all_cookies()              # the recipient, not logged in
    browser.get(url)
    browser.get(url)                          # a mail scanner, a link preview
    assert "Acknowledge alert?" in browser.page_source and "security-team" in browser.page_source
    assert _events(live, alert_id) == before
    assert live.sql("SELECT status FROM vigil_router.alerts WHERE id = %s",
                    alert_id) == [("open",)]
    no_phi(browser)

    csrf = browser.find_element(By.NAME, "csrf").get_attribute("value")
    replay = session_of(browser)
    browser.find_element(By.ID, "ack-note").send_keys("on it from my phone")
    browser.find_element(By.ID, "ack-button").click()
    WebDriverWait(browser, 10).until(lambda d: "Acknowledged ConsoleLink" in d.page_source)
    [(status, by)] = live.sql("SELECT status, acked_by FROM vigil_router.alerts WHERE id = %s",
                              alert_id)
    assert (status, by) == ("acked", "security-team (ack link)")
    acked = [d for k, _, d in _events(live, alert_id) if k == "acked"]
    assert acked and acked[0]["via"] == "ack-link" and acked[0]["step"] == 1

    again = replay.post(url, data={"csrf": csrf, "note": "again"}, timeout=10)
    assert again.status_code == 403 and "replayed" in again.text
    refused = [d for k, _, d in _events(live, alert_id) if k == "ack_link_refused"]
    assert refused == [{"reason": "replayed", "step": 1, "target": "security-team"}]


def test_expired_and_wrong_recipient_links_are_refused_and_recorded(live: Live) -> None:
    alert_id = live.fire("ConsoleLinkRefused", "P3")
    url = _link_for(live, alert_id)
    person = _page_for(live, alert_id)["target"]    # P3 pages whoever is on call: alice/sink
    # A link signed with the real secret for someone step 1 did not page (the P3 step pages
    # the person on call), as a leaked key or a config change would make one.
    token = tokens.new_ack_link(SECRET, alert_id, 1, "legal",
                                live.clock.now().timestamp() + 600)
    wrong = f"{live.base}/console/ack/{token}"
    s = requests.Session()
    page = s.get(wrong, timeout=10)
    assert page.status_code == 403 and "wrong recipient" in page.text
    anon_csrf = _csrf(s.get(url, timeout=10).text)
    assert s.post(wrong, data={"csrf": anon_csrf}, timeout=10).status_code == 403
    forged = s.post(url[:-3] + "AAA", data={"csrf": anon_csrf}, timeout=10)
    assert forged.status_code == 403 and "not valid" in forged.text
    live.clock.advance(minutes=31)            # console.ack_link_ttl: 30m
    assert s.post(url, data={"csrf": anon_csrf}, timeout=10).status_code == 403
    reasons = [(d["reason"], d["target"]) for k, _, d in _events(live, alert_id)
               if k == "ack_link_refused"]
    assert reasons == [("wrong recipient", "legal"), ("expired", person)]
    # Why that person was paged: the schedule, the person and how (fire.sql's detail).
    page = requests.Session()
    page.post(f"{live.base}/console/login", allow_redirects=False, timeout=10, data={
        "username": "victor", "password": USERS["victor"][0],
        "csrf": _csrf(page.get(f"{live.base}/console/login", timeout=10).text)})
    text = page.get(f"{live.base}/console/alerts/{alert_id}", timeout=10).text
    assert f"on-call was {person.split('/')[0]} (rotation of schedule primary)" in text
    assert live.sql("SELECT status FROM vigil_router.alerts WHERE id = %s",
                    alert_id) == [("open",)]


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:300]
    return m.group(1)


def test_every_page_has_the_security_headers_and_no_phi(live: Live, browser: Any) -> None:
    alert_id = live.fire("ConsoleHeaders", "P4", patient_name=CANARY)
    incident = requests.post(f"{live.base}/api/v1/incidents", timeout=10, headers={
        "Authorization": f"Bearer {TOKEN}"}, json={
        "type": "unauthorized-access", "severity": "P1", "description": "see alert",
        "alert_ids": [alert_id]}).json()["id"]
    s = requests.Session()
    login_page = s.get(f"{live.base}/console/login", timeout=10)
    resp = s.post(f"{live.base}/console/login", allow_redirects=False, timeout=10, data={
        "username": "alice", "password": USERS["alice"][0], "csrf": _csrf(login_page.text)})
    assert resp.status_code == 303
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    wrong = requests.post(f"{live.base}/console/login", timeout=10, data={
        "username": "alice", "password": "nope", "csrf": _csrf(login_page.text)})
    assert wrong.status_code == 403                 # another visitor's CSRF token
    open_page = s.get(f"{live.base}/console/", timeout=10).text
    assert f'href="/console/incidents/{incident}"' in open_page
    assert re.search(r"respond in 1[45]m \d\ds; responding pages security-team",
                     re.sub(r"<[^>]+>", "", open_page))
    assert "linked to incident" in s.get(f"{live.base}/console/alerts/{alert_id}",
                                         timeout=10).text
    # A containment requested from the CLI (vigil incident contain) shows where it stands.
    live.sql("INSERT INTO vigil_router.containments (incident_id, database, kind, target, "
             "requested_at, requested_by, approvals_needed) VALUES (%s, 'demo', 'role', "
             "'app_reader', now(), 'alice', 1) RETURNING id", incident)
    text = re.sub(r"<[^>]+>", " ", s.get(f"{live.base}/console/incidents/{incident}",
                                          timeout=10).text)
    assert re.search(r"role app_reader\s+demo\s+awaiting_approval\s+alice", text), text
    paths = ["/console/", f"/console/alerts/{alert_id}", f"/console/incidents/{incident}",
             "/console/history",
             "/console/history?label=target=demo", "/console/overview", "/console/runbook",
             "/console/login", "/console/static/console.js", "/console/alerts/999999"]
    for path in paths:
        r = s.get(f"{live.base}{path}", timeout=10)
        h = r.headers
        assert "script-src 'self'" in h["Content-Security-Policy"], path
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"], path
        assert "unsafe-inline" not in h["Content-Security-Policy"], path
        assert h["X-Content-Type-Options"] == "nosniff", path
        assert h["Referrer-Policy"] == "no-referrer", path
        assert CANARY not in r.text, path
        assert "<script>" not in r.text and " on" + "click=" not in r.text, path
    bad = s.get(f"{live.base}/console/history?label=patient_name={CANARY}", timeout=10)
    assert bad.status_code == 400 and "not a label the console shows" in bad.text
    assert CANARY not in bad.text


def test_a_logged_in_responder_can_use_their_own_link_and_replays_are_recorded_once(
        live: Live) -> None:
    alert_id = live.fire("ConsoleLinkLoggedIn", "P3")
    url = _link_for(live, alert_id)
    s = requests.Session()
    s.post(f"{live.base}/console/login", allow_redirects=False, timeout=10, data={
        "username": "alice", "password": USERS["alice"][0],
        "csrf": _csrf(s.get(f"{live.base}/console/login", timeout=10).text)})
    assert "vigil_session" in s.cookies
    # The link opened from mail or chat is a cross-site navigation: SameSite=Strict keeps the
    # session cookie home, so the page binds its form to a fresh anonymous cookie...
    opened = requests.get(url, timeout=10)
    s.cookies.update(opened.cookies)
    # ...and the POST from that page is same-site: it carries both cookies.
    acked = s.post(url, data={"csrf": _csrf(opened.text)}, timeout=10)
    assert acked.status_code == 200 and "Acknowledged ConsoleLinkLoggedIn" in acked.text
    for _ in range(3):   # replaying a used link is refused, and said once on the timeline
        assert s.post(url, data={"csrf": _csrf(opened.text)}, timeout=10).status_code == 403
    refused = [d for k, _, d in _events(live, alert_id) if k == "ack_link_refused"]
    assert [d["reason"] for d in refused] == ["replayed"]


def test_logging_out_ends_the_session_for_a_copy_of_its_cookie_too(
        live: Live, browser: Any) -> None:
    login(browser, live, "victor")
    copy = session_of(browser)         # the cookie, taken before logging out
    assert copy.get(f"{live.base}/console/", timeout=10,
                    allow_redirects=False).status_code == 200
    browser.find_element(By.CSS_SELECTOR, "nav form button").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url == f"{live.base}/console/login")
    replay = copy.get(f"{live.base}/console/", timeout=10, allow_redirects=False)
    assert replay.status_code == 303 and replay.headers["Location"] == "/console/login"
