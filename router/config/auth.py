"""router.yml's ``auth``: how Alertmanager and the CLI authenticate to the router's API
(router/auth.py checks it)."""

from __future__ import annotations

import dataclasses

from vigil.core.config import Secret


@dataclasses.dataclass(frozen=True)
class BasicAuth:
    username: str
    password: Secret


@dataclasses.dataclass(frozen=True)
class Auth:
    bearer_token: Secret | None = None
    basic: BasicAuth | None = None
    insecure_no_auth: bool = False       # for local experiments only

    def __post_init__(self) -> None:
        if not (self.bearer_token or self.basic or self.insecure_no_auth):
            raise ValueError("set auth.bearer_token and/or auth.basic "
                             "(or insecure_no_auth: true for local experiments)")
