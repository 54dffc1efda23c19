"""Who a request to the API acts as, once router/auth.py has let it in.

With the shared token (``auth.bearer_token``, basic auth: Alertmanager, scripts) the router
knows only that the caller may use the API; a human action names its actor in the body
(``who``, ``created_by``), taken as given and recorded ``via: api``. With a person's own token
(``auth.users.NAME.token``) the router knows who it is: the actor is that user whatever the
body says (a field naming someone else is refused, 403 naming it), recorded
``via: api-token``, and a read-only user may read but not act. ``GET /api/v1/whoami`` tells a
client which it is (the CLI's ``--who`` defaults to it).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from router.config.auth import Role
from router.http import error, reply

READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclasses.dataclass(frozen=True)
class Caller:
    user: str | None             # a personal token's user; None: the shared credentials
    role: Role = "responder"

    @property
    def via(self) -> str:
        """How the actor of this request's events was established (on the timeline)."""
        return "api-token" if self.user else "api"


SHARED = Caller(None)
CALLER = web.RequestKey("vigil_caller", Caller)


def caller(request: web.Request) -> Caller:
    who: Caller = request.get(CALLER, SHARED)
    return who


def admit(request: web.Request, who: Caller) -> web.Response | None:
    """Remember who is calling; a read-only user's token may only read (403)."""
    request[CALLER] = who
    if who.user is not None and who.role != "responder" and request.method not in READS:
        return error(403, f"this token is {who.user}'s, whose role is read-only: it may read "
                          f"but not act (auth.users.{who.user}.role)")
    return None


def claim(request: web.Request, doc: dict[str, Any], field: str = "who") -> web.Response | None:
    """With a personal token, ``doc[field]`` becomes its user (403 naming the field if the
    body names someone else); with the shared token the body's value stands, unchecked."""
    who = caller(request).user
    if who is None:
        return None
    given = doc.get(field)
    if given is not None and given != who:
        return refused(field, who)
    doc[field] = who
    return None


def refused(field: str, who: str) -> web.Response:
    # The given name is not echoed: the field may hold anything the caller typed.
    return error(403, f"{field}: this token is {who}'s; leave {field} out or give {who}",
                 field)


async def whoami(request: web.Request) -> web.Response:
    who = caller(request)
    return reply({"user": who.user, "role": who.role, "via": who.via})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/whoami", whoami)
