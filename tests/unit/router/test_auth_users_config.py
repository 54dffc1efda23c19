"""router.yml's auth.users: one list of people (a token for the API, a password for the
console, a role), checked at load with YAML paths; tokens are secrets; console.users from
before auth.users still loads; trusted_proxies must be addresses or networks."""

from __future__ import annotations

from typing import Any

import pytest

from router.config import RouterFile
from vigil.core.config import build
from vigil.core.errors import ConfigError
from vigil.core.secrets import scrub

SECRET = "console-secret-0123456789-abcdefghijklmnop"
ALICE = "alice-token-0123456789abcdef"


def _load(**top: Any) -> RouterFile:
    doc: dict[str, Any] = {"database": {"dsn": "dbname=x"}, **top}
    doc.setdefault("auth", {"bearer_token": "shared-token-0123456789"})
    return build(RouterFile, doc, "router.yml")


def _problems(**top: Any) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        _load(**top)
    return list(err.value.details)


def _auth(**users: Any) -> dict[str, Any]:
    return {"bearer_token": "shared-token-0123456789", "users": users}


def test_a_user_has_a_token_a_password_or_both_and_a_known_role() -> None:
    cfg = _load(auth=_auth(alice={"token": ALICE, "role": "responder"}, victor={
        "password": "pw-victor"}))
    assert cfg.auth.tokens() == {"alice": ALICE}
    assert cfg.auth.users["victor"].role == "read-only"   # the console's default too
    assert scrub(f"Bearer {ALICE}") == "Bearer ***"
    assert ALICE not in repr(cfg)
    [(path, text)] = _problems(auth=_auth(alice={"token": ALICE, "role": "admin"}))
    assert path == "auth.users.alice.role"
    [(path, text)] = _problems(auth=_auth(alice={"role": "responder"}))
    assert path == "auth.users.alice" and "token" in text and "password" in text
    [(path, text)] = _problems(auth=_auth(alice={"token": "short"}))
    assert path == "auth.users.alice" and "token: at least 16" in text


def test_a_token_shared_by_two_people_or_with_the_shared_token_is_refused_unquoted() -> None:
    [(path, text)] = _problems(auth=_auth(alice={"token": ALICE}, bob={"token": ALICE}))
    assert path == "auth" and "auth.users.bob.token" in text and "auth.users.alice.token" in text
    assert ALICE not in text
    [(_, text)] = _problems(auth={"bearer_token": ALICE, "users": {"bob": {"token": ALICE}}})
    assert "auth.bearer_token" in text and ALICE not in text


def test_personal_tokens_alone_are_enough_auth() -> None:
    assert _load(auth={"users": {"alice": {"token": ALICE}}}).auth.bearer_token is None


def test_the_console_logs_in_the_people_of_auth_users_that_have_a_password() -> None:
    cfg = _load(auth=_auth(alice={"token": ALICE, "password": "pw-alice", "role": "responder"},
                           bot={"token": "bot-token-0123456789abcdef"}),
                console={"secret": SECRET})
    assert cfg.console is not None
    assert {n: (str(u.password), u.role) for n, u in cfg.console.users.items()} == {
        "alice": ("pw-alice", "responder")}


def test_console_users_from_before_auth_users_still_load_but_not_beside_them() -> None:
    old = _load(console={"secret": SECRET, "users": {"carol": {"password": "pw-carol"}}})
    assert old.console is not None and list(old.console.users) == ["carol"]
    [(_, text)] = _problems(auth=_auth(alice={"token": ALICE}), console={
        "secret": SECRET, "users": {"carol": {"password": "pw-carol"}}})
    assert "console.users and auth.users" in text
    [(_, text)] = _problems(auth=_auth(alice={"token": ALICE}), console={"secret": SECRET})
    assert "auth.users.NAME.password" in text


def test_trusted_proxies_are_addresses_or_networks_named_by_index() -> None:
    assert _load(trusted_proxies=["10.0.0.0/8", "::1"]).trusted_proxies == ("10.0.0.0/8",
                                                                             "::1")
    assert _load().trusted_proxies == ()
    [(_, text)] = _problems(trusted_proxies=["10.0.0.0/8", "proxy.local"])
    assert text.startswith("trusted_proxies[1]:")
