"""router.yml's ``auth``: who may use the router and how they prove it (router/auth.py checks
it). The shared ``bearer_token`` (and/or ``basic``) is for Alertmanager and scripts: it says
the caller may use the API, not who they are. ``users`` are the people, one entry each: a
``token`` for the API (a request made with it acts as that user), a ``password`` for the
console (router/console/), and a role either way."""

from __future__ import annotations

import dataclasses
from typing import Literal

from vigil.core.config import Secret

Role = Literal["read-only", "responder"]
MIN_TOKEN = 16     # a personal token is a credential, not a label


@dataclasses.dataclass(frozen=True)
class BasicAuth:
    username: str
    password: Secret


@dataclasses.dataclass(frozen=True)
class User:
    """A person: read-only may look (GET, console pages), responder may also act."""

    token: Secret | None = None
    password: Secret | None = None
    role: Role = "read-only"

    def __post_init__(self) -> None:
        if self.token is None and self.password is None:
            raise ValueError("give this user a token (the API) and/or a password (the console)")
        if self.token is not None and len(self.token) < MIN_TOKEN:
            raise ValueError(f"token: at least {MIN_TOKEN} characters (e.g. python3 -c "
                             "'import secrets; print(secrets.token_urlsafe(32))')")


@dataclasses.dataclass(frozen=True)
class Auth:
    bearer_token: Secret | None = None
    basic: BasicAuth | None = None
    insecure_no_auth: bool = False       # for local experiments only
    users: dict[str, User] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.bearer_token or self.basic or self.insecure_no_auth or self.tokens()):
            raise ValueError("set auth.bearer_token and/or auth.basic, or a token in auth.users "
                             "(or insecure_no_auth: true for local experiments)")
        seen: dict[str, str] = {}
        if self.bearer_token:
            seen[str(self.bearer_token)] = "auth.bearer_token"
        for name, token in self.tokens().items():
            where = f"auth.users.{name}.token"
            if token in seen:   # the token itself is never quoted
                raise ValueError(f"{where}: the same value as {seen[token]}; each person "
                                 "needs a token of their own")
            seen[token] = where

    def tokens(self) -> dict[str, str]:
        """user name -> personal token, for the users who have one."""
        return {name: str(u.token) for name, u in self.users.items() if u.token is not None}
