"""router/auth.py: bearer and basic auth, credentials in URLs refused, access-log lines
stripped of queries and of path segments that are not the router's own words."""

from __future__ import annotations

import base64
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from router.auth import AccessLogFilter, check
from router.config import Auth, BasicAuth
from vigil.core.config import Secret

TOKEN = "unit-bearer-2f9c"
AUTH = Auth(bearer_token=Secret(TOKEN),
            basic=BasicAuth("alertmanager", Secret("unit-basic-77e1")))


def request(header: str | None = None, path: str = "/api/v1/alerts") -> web.Request:
    headers = {"Authorization": header} if header is not None else {}
    return make_mocked_request("GET", path, headers=headers)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer  {TOKEN} ",
                                    basic("alertmanager", "unit-basic-77e1")])
def test_the_configured_credentials_are_accepted(header: str) -> None:
    assert check(request(header), AUTH) is None


@pytest.mark.parametrize(("header", "reason"), [
    (None, "missing or unsupported credentials"),
    ("Digest abc", "missing or unsupported credentials"),
    ("Bearer wrong", "invalid credentials"),
    (basic("alertmanager", "wrong"), "invalid credentials"),
    (basic("someone", "unit-basic-77e1"), "invalid credentials"),
    ("Basic !!not-base64!!", "invalid credentials"),
])
def test_anything_else_is_refused_without_echoing_it(header: str | None, reason: str) -> None:
    assert check(request(header), AUTH) == reason


def test_credentials_in_the_query_string_are_refused_even_without_auth() -> None:
    open_auth = Auth(insecure_no_auth=True)
    assert check(request(path="/api/v1/alerts"), open_auth) is None
    reason = check(request(f"Bearer {TOKEN}", f"/api/v1/alerts?Token={TOKEN}"),
                   AUTH)
    assert reason is not None and "query string" in reason and TOKEN not in reason


def test_access_log_lines_lose_queries_and_unknown_path_segments(
        router_app: web.Application) -> None:
    # The words shown are the routes' own, which create_app (router_app) registers.
    line = '127.0.0.1 "GET /api/v1/alerts/42/Jane-Doe?label=patient HTTP/1.1" 404'
    rec = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1, line, None, None)
    rec.first_request_line = "GET /api/v1/alerts/Jane-Doe?x=1 HTTP/1.1"
    AccessLogFilter().filter(rec)
    assert rec.getMessage() == \
        '127.0.0.1 "GET /api/v1/alerts/42/<hidden>?<query hidden> HTTP/1.1" 404'
    assert "Jane" not in rec.first_request_line
