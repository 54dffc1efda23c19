"""A console login from test code (requests, no browser): the session and the CSRF token its
forms carry, for the tests that post what a page's button would."""

from __future__ import annotations

import re

import requests


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:300]
    return found.group(1)


def console_session(base: str, user: str, password: str) -> tuple[requests.Session, str]:
    """``user`` logged in to the console at ``base``: the session and its CSRF token."""
    s = requests.Session()
    form = s.get(f"{base}/console/login", timeout=10).text
    resp = s.post(f"{base}/console/login", timeout=10, data={
        "username": user, "password": password, "csrf": csrf_of(form)})
    assert resp.ok and "vigil_session" in s.cookies, resp.status_code
    return s, csrf_of(resp.text)
