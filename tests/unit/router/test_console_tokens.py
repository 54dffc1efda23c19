"""Console tokens without a database: ack links are signed, bound and expire; session
cookies expire; CSRF tokens are bound to their session; config refuses a weak secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from router.config import Console, ConsoleUser, RouterFile
from router.console import links, tokens
from vigil.core.config import Secret, build
from vigil.core.errors import ConfigError

SECRET = "s" * 40
OTHER = "o" * 40
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_an_ack_link_carries_its_binding_and_only_its_secret_verifies_it() -> None:
    token = tokens.new_ack_link(SECRET, 12, 2, "cto", NOW.timestamp() + 600)
    link = tokens.read_ack_link(SECRET, token)
    assert link == tokens.AckLink(12, 2, "cto", NOW.timestamp() + 600)
    assert tokens.read_ack_link(OTHER, token) is None


def test_only_the_canonical_spelling_of_a_link_verifies() -> None:
    # base64 decodes leniently: padding, or the spare low bits of the last character, give
    # other spellings of the same bytes; each would be a fresh "single use" of one link.
    token = tokens.new_ack_link(SECRET, 12, 2, "cto", NOW.timestamp() + 600)
    body, sig = token.split(".")
    spare = {"A": "B", "Q": "R", "g": "h", "w": "x"}.get(sig[-1], sig[-1])
    variants = [token + "=", token + "==", f"{body}=.{sig}", f"{body}.{sig[:-1]}{spare}"]
    assert tokens.read_ack_link(SECRET, token) is not None
    for variant in variants:
        if variant != token:
            assert tokens.read_ack_link(SECRET, variant) is None, variant


@pytest.mark.parametrize("field,value", [("a", 13), ("s", 3), ("t", "legal"), ("x", 9e12)])
def test_changing_any_bound_field_breaks_the_signature(field: str, value: object) -> None:
    token = tokens.new_ack_link(SECRET, 12, 2, "cto", NOW.timestamp() + 600)
    _, sig = token.split(".")
    data = tokens.verify(SECRET, "ack-link", token)
    assert data is not None
    forged = tokens.sign(OTHER, "ack-link", {**data, field: value}).split(".")[0] + "." + sig
    assert tokens.read_ack_link(SECRET, forged) is None


def test_a_token_signed_for_one_purpose_is_refused_for_another() -> None:
    session = tokens.session_cookie(SECRET, tokens.new_session_id(), NOW.timestamp() + 3600)
    assert tokens.read_ack_link(SECRET, session) is None
    link = tokens.new_ack_link(SECRET, 1, 1, "cto", NOW.timestamp() + 60)
    assert tokens.read_session_cookie(SECRET, link, NOW) is None


@pytest.mark.parametrize("garbage", ["", ".", "abc", "a.b", "!!!.???", "x" * 5000])
def test_malformed_tokens_are_refused_without_raising(garbage: str) -> None:
    assert tokens.read_ack_link(SECRET, garbage) is None
    assert tokens.read_session_cookie(SECRET, garbage, NOW) is None
    assert tokens.read_anon(SECRET, garbage) is None


def test_session_cookies_name_their_id_and_expire_on_the_injected_clock() -> None:
    sid = tokens.new_session_id()
    cookie = tokens.session_cookie(SECRET, sid, NOW.timestamp() + 3600)
    assert tokens.read_session_cookie(SECRET, cookie, NOW + timedelta(seconds=3599)) == sid
    assert tokens.read_session_cookie(SECRET, cookie, NOW + timedelta(seconds=3600)) is None
    assert tokens.read_session_cookie(OTHER, cookie, NOW) is None


def test_csrf_tokens_are_bound_to_their_session() -> None:
    a, b = tokens.new_session_id(), tokens.new_session_id()
    assert a != b
    token = tokens.csrf_token(SECRET, a)
    assert tokens.csrf_ok(SECRET, a, token)
    assert not tokens.csrf_ok(SECRET, b, token)      # another session's token
    assert not tokens.csrf_ok(OTHER, a, token)       # another secret
    assert not tokens.csrf_ok(SECRET, a, None)       # missing
    assert not tokens.csrf_ok(SECRET, None, token)         # no session at all
    anon = tokens.read_anon(SECRET, tokens.new_anon(SECRET))
    assert anon and not tokens.csrf_ok(SECRET, anon, token)


def _console(**kw: object) -> Console:
    return Console(secret=Secret(SECRET), users={"a": ConsoleUser(Secret("pw"), "responder")},
                   **kw)  # type: ignore[arg-type]


def test_the_outbox_hook_adds_a_link_to_escalation_pages_only_expiring_after_the_ttl() -> None:
    add = links.decorate(_console(ack_link_ttl=900), "https://router.example/")
    page = {"kind": "escalation", "step": 2, "alert": {"id": 7}}
    row = {"payload": page, "alert_id": 7, "target": "cto", "created_at": NOW}
    out = add(row)
    assert out["ack_url"].startswith("https://router.example/console/ack/")
    link = tokens.read_ack_link(SECRET, out["ack_url"].rsplit("/", 1)[1])
    assert link == tokens.AckLink(7, 2, "cto", (NOW + timedelta(seconds=900)).timestamp())
    assert add(row) == out            # every retry of the page carries the same link
    notice = {**row, "payload": {"kind": "notice", "step": 1, "alert": {"id": 7}}}
    assert "ack_url" not in add(notice)


def test_config_refuses_a_short_secret_and_no_users_naming_the_path() -> None:
    with pytest.raises(ConfigError) as err:
        build(Console, {"secret": "short", "users": {"a": {"password": "x"}}}, "router.yml")
    assert "secret" in str(err.value)
    with pytest.raises(ConfigError) as err:   # nobody can log in: said at load
        build(RouterFile, {"database": {"dsn": "dbname=x"}, "auth": {"bearer_token": "t" * 20},
                           "console": {"secret": SECRET, "users": {}}}, "router.yml")
    assert "auth.users.NAME.password" in str(err.value)
    with pytest.raises(ConfigError) as err:
        build(Console, {"secret": SECRET, "users": {"a": {"password": "x", "role": "admin"}}},
              "router.yml")
    assert "users.a.role" in str(err.value)


@pytest.mark.parametrize("limit", [{"per_user": 0}, {"per_address": 0}, {"window": "0s"}])
def test_config_refuses_a_login_limit_that_limits_nothing_naming_the_path(
        limit: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as err:
        build(Console, {"secret": SECRET, "users": {"a": {"password": "x"}},
                        "login_limit": limit}, "router.yml")
    assert "login_limit" in str(err.value)


def test_the_login_limit_defaults_to_five_per_user_and_address_fifty_per_user_twenty_per_address(
        ) -> None:
    cfg = build(Console, {"secret": SECRET, "users": {"a": {"password": "x"}}}, "router.yml")
    limit = cfg.login_limit
    assert (limit.per_user_and_address, limit.per_user, limit.per_address,
            limit.window) == (5, 50, 20, 900.0)


def test_a_users_fingerprint_changes_with_their_password_role_or_the_secret() -> None:
    from router.console.sessions import fingerprint
    cfg = _console()
    mark = fingerprint(cfg, "a", ConsoleUser(Secret("pw"), "responder"))
    assert "pw" not in mark and len(mark) == 64
    assert mark == fingerprint(cfg, "a", ConsoleUser(Secret("pw"), "responder"))
    assert mark != fingerprint(cfg, "a", ConsoleUser(Secret("pw2"), "responder"))
    assert mark != fingerprint(cfg, "a", ConsoleUser(Secret("pw"), "read-only"))
    assert mark != fingerprint(cfg, "b", ConsoleUser(Secret("pw"), "responder"))
    other = Console(secret=Secret(OTHER), users=cfg.users)
    assert mark != fingerprint(other, "a", ConsoleUser(Secret("pw"), "responder"))


def test_the_login_limits_count_an_ipv6_client_by_its_64_block() -> None:
    """Counted per address, one IPv6 host (a /64 is what one is usually given) had 2^64
    allowances of per_address failures."""
    from router.console.throttle import client_key, keys
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == \
        "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("unknown") == "unknown"
    cfg = _console()
    assert keys(cfg, "a", "2001:db8:1:2::1") == keys(cfg, "a", "2001:db8:1:2::abcd")
