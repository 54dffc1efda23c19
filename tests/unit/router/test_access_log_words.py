"""The access log hides every path segment that is not one of the routes' own words (a
label value, an alert name typed into a URL) and shows the routes' words: those come from the
route table create_app builds, so a new route (containment's ``approve``, ``released``) is
logged by its own name, not as ``<hidden>``."""

from __future__ import annotations

import logging

from aiohttp import web

from router.auth import AccessLogFilter


def test_every_literal_word_of_every_route_is_shown_in_the_access_log(
        router_app: web.Application) -> None:
    seen = 0
    for resource in router_app.router.resources():
        path = "/".join("7" if "{" in s else s for s in resource.canonical.split("/"))
        record = logging.LogRecord("aiohttp.access", logging.INFO, "", 0,
                                   '127.0.0.1 "POST %s HTTP/1.1" 200', (path,), None)
        AccessLogFilter().filter(record)
        assert "<hidden>" not in record.getMessage(), path
        seen += 1
    assert seen > 20
    record = logging.LogRecord("aiohttp.access", logging.INFO, "", 0,
                               '127.0.0.1 "GET /api/v1/alerts/MRN-123456 HTTP/1.1" 404', None,
                               None)
    AccessLogFilter().filter(record)
    assert "MRN" not in record.getMessage() and "<hidden>" in record.getMessage()
