"""Bearer and basic auth for the webhook and the API, compared in constant time.

A bearer token is the shared one (``auth.bearer_token``: Alertmanager, scripts) or a person's
own (``auth.users.NAME.token``): ``identify`` says which, and router/identity.py makes the
request act as that person. Credentials in the query string are refused outright (they end
up in proxy and access logs) and never echoed or logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re

from aiohttp import web

from router.config import Auth
from router.identity import SHARED, Caller
from vigil.core.secrets import scrub

QUERY_CREDENTIALS = frozenset({"token", "access_token", "bearer", "api_key", "apikey", "key",
                               "auth", "password", "secret"})


def _eq(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def check(request: web.Request, cfg: Auth) -> str | None:
    """Return None when authorised, else a safe reason (never containing what was sent)."""
    who = identify(request, cfg)
    return who if isinstance(who, str) else None


def _bearer(given: str, cfg: Auth) -> Caller | str:
    """Every token is compared, whichever matches: the time taken says nothing about which."""
    found: Caller | None = None
    if cfg.bearer_token and _eq(given, str(cfg.bearer_token)):
        found = SHARED
    for name, token in cfg.tokens().items():
        if _eq(given, token):
            found = Caller(name, cfg.users[name].role)
    return found or "invalid credentials"


def identify(request: web.Request, cfg: Auth) -> Caller | str:
    """Who is calling: a person (their own token), the shared credentials (``SHARED``), or a
    safe reason why not (never containing what was sent)."""
    if QUERY_CREDENTIALS & {k.lower() for k in request.query}:
        return "credentials in the query string are refused; use the Authorization header"
    if cfg.insecure_no_auth:
        return SHARED
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and (cfg.bearer_token or cfg.users):
        return _bearer(value.strip(), cfg)
    if scheme == "basic" and cfg.basic:
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(
                ":")
        except (binascii.Error, UnicodeDecodeError):
            return "invalid credentials"
        ok_user = _eq(user, cfg.basic.username)
        ok_password = _eq(password, str(cfg.basic.password))
        return SHARED if ok_user and ok_password else "invalid credentials"
    return "missing or unsupported credentials"


def unauthorized(reason: str, cfg: Auth) -> web.Response:
    challenge = "Bearer" if cfg.bearer_token or cfg.tokens() else 'Basic realm="vigil-router"'
    return web.json_response({"error": reason}, status=401,
                             headers={"WWW-Authenticate": challenge})


_QUERY = re.compile(r"(\s/[^\s?]*)\?\S*")
_PATH = re.compile(r'((?:^|")[A-Z]+ )(/[^\s?"]*)')
# Path segments the router's routes are made of; anything else (a mistyped id, a value pasted
# into the URL) is hidden: a path can carry PHI as well as a query string. create_app adds
# every literal word of its route table (``protect_access_log``), so a new route's words are
# shown without anyone listing them here; these are the ones no route names literally (the
# console's static files are one resource, ``/console/static/{filename}``).
_SEGMENTS: set[str] = {"", "console.js", "console.css"}


_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime"}


def _clean(text: str) -> str:
    line = _QUERY.sub(r"\1?<query hidden>", text)
    return scrub(_PATH.sub(_mask_path, line))


def _mask_path(match: re.Match[str]) -> str:
    segments = [s if s in _SEGMENTS or s.isdigit() else "<hidden>"
                for s in match.group(2).split("/")]
    return match.group(1) + "/".join(segments)


class AccessLogFilter(logging.Filter):
    """Installed on ``aiohttp.access``: drops query strings (a misplaced token, a label
    filter's value), hides path segments that are not the routes' own words or numeric ids,
    and scrubs registered secrets from access-log lines, whoever configured the handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = _clean(message)
        # aiohttp also attaches the request line as an extra (first_request_line), which a
        # structured handler would print: cleaned the same way.
        for key, value in list(record.__dict__.items()):
            if key not in _RECORD_ATTRS and isinstance(value, str):
                record.__dict__[key] = _clean(value)
        record.args = None
        return True


def protect_access_log(app: web.Application | None = None) -> None:
    """Install the filter once; with ``app``, show its routes' literal words (call it after
    the routes are added)."""
    logger = logging.getLogger("aiohttp.access")
    if not any(isinstance(f, AccessLogFilter) for f in logger.filters):
        logger.addFilter(AccessLogFilter())
    if app is not None:
        _SEGMENTS.update(segment for resource in app.router.resources()
                         for segment in resource.canonical.split("/") if "{" not in segment)
