"""Who is looking: the login form, the session cookie, roles and CSRF.

Users and their roles come from ``console.users`` in router.yml (passwords compared in
constant time, like the API's credentials, router/auth.py). A session is a row in the router
database named by a signed cookie (router/console/sessions.py), checked on every request:
logging out deletes it, and removing a user or changing their role or password ends it on
their next request. Failed logins are limited per name and per address
(router/console/throttle.py). Every form carries a CSRF token bound to the session (or,
before login, to a signed anonymous cookie); every POST checks it.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging

from aiohttp import web

from router.config import Console
from router.console import sessions, throttle, tokens
from router.console.render import h, hidden_csrf, message, page
from router.keys import CLOCK, CONFIG, POOL
from vigil.core.logs import fields

log = logging.getLogger("vigil.router")

SESSION_COOKIE = "vigil_session"
ANON_COOKIE = "vigil_anon"
RESPONDER = "responder"


@dataclasses.dataclass(frozen=True)
class Visitor:
    session: tokens.Session | None
    nonce: str | None            # what this visitor's CSRF token is bound to
    new_anon: str | None = None  # an anonymous cookie to set on the response

    @property
    def responder(self) -> bool:
        return self.session is not None and self.session.role == RESPONDER


def console_config(request: web.Request) -> Console:
    cfg = request.app[CONFIG].router.console
    assert cfg is not None   # routes exist only with a console section
    return cfg


async def visitor(request: web.Request, *, anon: bool = False,
                  ignore_session: bool = False) -> Visitor:
    """The request's session if live (its row exists and matches the config's user); else, with
    ``anon``, an anonymous visitor whose forms are bound to a (new if need be) cookie.

    ``ignore_session``: always the anonymous visitor. An ack link is opened by a cross-site
    navigation (mail, chat), which sends no SameSite=Strict cookie, while its form's POST is
    same-site and sends both: binding the form to the session would refuse a logged-in
    responder's own link. The link's recipient is the actor anyway, not the session's user."""
    cfg = console_config(request)
    now = request.app[CLOCK].now()
    raw = None if ignore_session else request.cookies.get(SESSION_COOKIE)
    sid = tokens.read_session_cookie(str(cfg.secret), raw, now) if raw else None
    if sid:
        async with request.app[POOL].connection() as conn:
            s = await sessions.live(conn, cfg, sid, now)
        if s:
            return Visitor(s, s.sid)
    if not anon:
        return Visitor(None, None)
    cookie = request.cookies.get(ANON_COOKIE)
    nonce = tokens.read_anon(str(cfg.secret), cookie) if cookie else None
    if nonce:
        return Visitor(None, nonce)
    fresh = tokens.new_anon(str(cfg.secret))
    return Visitor(None, tokens.read_anon(str(cfg.secret), fresh), new_anon=fresh)


def csrf_for(request: web.Request, v: Visitor) -> str:
    return tokens.csrf_token(str(console_config(request).secret), v.nonce) if v.nonce else ""


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: float | None = None) -> None:
    """HttpOnly, SameSite=Strict, scoped to /console; Secure when the router is served over
    https (public_url)."""
    secure = request.app[CONFIG].router.public_url.startswith("https://")
    response.set_cookie(name, value, path="/console", httponly=True, samesite="Strict",
                        secure=secure, max_age=None if max_age is None else int(max_age))


def finish(request: web.Request, v: Visitor, response: web.StreamResponse
           ) -> web.StreamResponse:
    if v.new_anon:
        set_cookie(request, response, ANON_COOKIE, v.new_anon)
    return response


async def checked_form(request: web.Request, v: Visitor) -> dict[str, str]:
    """The POSTed form if its CSRF token matches this visitor's; else a 403 page."""
    form = await request.post()
    given = form.get("csrf")
    cfg = console_config(request)
    if not tokens.csrf_ok(str(cfg.secret), v.nonce, given if isinstance(given, str) else None):
        raise _refuse(request, "The form's security token is missing or does not match your "
                      "session. Reload the page and try again.")
    return {k: val for k, val in form.items() if isinstance(val, str)}


def _refuse(request: web.Request, text: str) -> web.HTTPForbidden:
    resp = message("Refused", text, 403, now=request.app[CLOCK].now())
    return web.HTTPForbidden(text=resp.text, content_type="text/html",
                             headers={"Cache-Control": "no-store"})


async def require(request: web.Request, *, responder: bool = False) -> Visitor:
    """The logged-in visitor; not logged in (or logged out, or no longer a user): to the
    login form; a read-only user asking to act: 403."""
    v = await visitor(request)
    if v.session is None:
        raise web.HTTPSeeOther("/console/login")
    if responder and not v.responder:
        raise _refuse(request, "Your role is read-only: acknowledging, resolving and "
                      "approving containment need the responder role.")
    return v


def login_form(request: web.Request, v: Visitor, error: str = "", status: int = 200
               ) -> web.StreamResponse:
    err = f'<p class="error">{h(error)}</p>' if error else ""
    body = (f'{err}<form method="post" action="/console/login" class="login">'
            f"{hidden_csrf(csrf_for(request, v))}"
            '<label>User <input name="username" autocomplete="username" required></label>'
            '<label>Password <input name="password" type="password" '
            'autocomplete="current-password" required></label>'
            '<button type="submit">Log in</button></form>')
    return finish(request, v, page("Log in", body, status=status))


async def login_page(request: web.Request) -> web.StreamResponse:
    v = await visitor(request, anon=True)
    if v.session is not None:
        raise web.HTTPSeeOther("/console/")
    return login_form(request, v)


async def login(request: web.Request) -> web.StreamResponse:
    v = await visitor(request, anon=True)
    form = await checked_form(request, v)
    cfg = console_config(request)
    name, password = form.get("username", ""), form.get("password", "")
    user = cfg.users.get(name)
    address = request.remote or "unknown"
    # Logged by name only if it is a configured user: anything else is an attacker's string.
    who = fields(user=name if user else "<not a user>", address=address)
    now = request.app[CLOCK].now()
    async with request.app[POOL].connection() as conn, conn.transaction():
        # Before the password is looked at, and the same for any name: a 429 never tells
        # whether the user exists.
        wait = await throttle.retry_after(conn, cfg, name, address, now)
        if wait:
            log.warning("console login refused: too many attempts", extra=who)
            later = f"{-(-wait // 60)} min" if wait >= 60 else f"{wait} s"
            resp = login_form(request, v, f"Too many failed logins: try again in {later}.",
                              429)
            resp.headers["Retry-After"] = str(wait)
            return resp
        # Compare against something even for an unknown user: the answer takes as long.
        expected = str(user.password) if user else "\0" * 32
        ok = hmac.compare_digest(password.encode(), expected.encode()) and user is not None
        if not ok or user is None:
            await throttle.failed(conn, cfg, name, address, now)
            log.warning("console login failed", extra=who)
            return login_form(request, v, "Unknown user or wrong password.", 401)
        await throttle.succeeded(conn, cfg, name, address)
        if v.session is not None:   # logging in as someone else ends the session before
            await sessions.revoke(conn, v.session.sid)
        cookie = await sessions.open_session(conn, cfg, name, user, now)
    resp = web.HTTPSeeOther("/console/")
    set_cookie(request, resp, SESSION_COOKIE, cookie, cfg.session_ttl)
    raise resp


async def logout(request: web.Request) -> web.StreamResponse:
    """Ends the session for good: the row goes, so a copy of the cookie is worth nothing."""
    v = await require(request)
    await checked_form(request, v)
    assert v.session is not None
    async with request.app[POOL].connection() as conn:
        await sessions.revoke(conn, v.session.sid)
    resp = web.HTTPSeeOther("/console/login")
    resp.del_cookie(SESSION_COOKIE, path="/console")
    raise resp


def setup_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/login", login_page)
    app.router.add_post(f"{prefix}/login", login)
    app.router.add_post(f"{prefix}/logout", logout)
