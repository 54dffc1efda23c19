"""Who is looking: the login form, the signed session cookie, roles and CSRF.

Users and their roles come from ``console.users`` in router.yml (passwords compared in
constant time, like the API's credentials, router/auth.py). A session is a signed cookie
(router/console/tokens.py) re-checked against the config on every request, so removing a
user or changing a role takes effect at once. Every form carries a CSRF token bound to the
session (or, before login, to a signed anonymous cookie); every POST checks it.
"""

from __future__ import annotations

import dataclasses
import hmac

from aiohttp import web

from router.config import Console
from router.console import tokens
from router.console.render import h, hidden_csrf, message, page
from router.keys import CLOCK, CONFIG

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


def visitor(request: web.Request, *, anon: bool = False,
            ignore_session: bool = False) -> Visitor:
    """The request's session if valid (user still configured, same role); else, with
    ``anon``, an anonymous visitor whose forms are bound to a (new if need be) cookie.

    ``ignore_session``: always the anonymous visitor. An ack link is opened by a cross-site
    navigation (mail, chat), which sends no SameSite=Strict cookie, while its form's POST is
    same-site and sends both: binding the form to the session would refuse a logged-in
    responder's own link. The link's recipient is the actor anyway, not the session's user."""
    cfg = console_config(request)
    now = request.app[CLOCK].now()
    raw = None if ignore_session else request.cookies.get(SESSION_COOKIE)
    if raw:
        s = tokens.read_session(str(cfg.secret), raw, now)
        user = cfg.users.get(s.user) if s else None
        if s and user and user.role == s.role:
            return Visitor(s, s.nonce)
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


def require(request: web.Request, *, responder: bool = False) -> Visitor:
    """The logged-in visitor; not logged in: to the login form; a read-only user asking to
    act: 403."""
    v = visitor(request)
    if v.session is None:
        raise web.HTTPSeeOther("/console/login")
    if responder and not v.responder:
        raise _refuse(request, "Your role is read-only: acknowledging and resolving need "
                      "the responder role.")
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
    v = visitor(request, anon=True)
    if v.session is not None:
        raise web.HTTPSeeOther("/console/")
    return login_form(request, v)


async def login(request: web.Request) -> web.StreamResponse:
    v = visitor(request, anon=True)
    form = await checked_form(request, v)
    cfg = console_config(request)
    name, password = form.get("username", ""), form.get("password", "")
    user = cfg.users.get(name)
    # Compare against something even for an unknown user: the answer takes as long.
    expected = str(user.password) if user else "\0" * 32
    ok = hmac.compare_digest(password.encode(), expected.encode()) and user is not None
    if not ok or user is None:
        return login_form(request, v, "Unknown user or wrong password.", 401)
    now = request.app[CLOCK].now()
    cookie = tokens.new_session(str(cfg.secret), name, user.role, now, cfg.session_ttl)
    resp = web.HTTPSeeOther("/console/")
    set_cookie(request, resp, SESSION_COOKIE, cookie, cfg.session_ttl)
    raise resp


async def logout(request: web.Request) -> web.StreamResponse:
    v = require(request)
    await checked_form(request, v)
    resp = web.HTTPSeeOther("/console/login")
    resp.del_cookie(SESSION_COOKIE, path="/console")
    raise resp


def setup_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/login", login_page)
    app.router.add_post(f"{prefix}/login", login)
    app.router.add_post(f"{prefix}/logout", logout)
