"""Signed tokens for the console: session cookies, CSRF tokens and ack links.

One format, ``<base64url JSON>.<base64url HMAC-SHA256>``, keyed by ``console.secret`` with a
purpose prefixed to what is signed, so a session cookie can never pass as an ack link or the
other way round. Pure functions of (secret, data, now): no database, no clock of their own,
so the unit tests cover signing, expiry and binding without a server.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

T = TypeVar("T")

Purpose = Literal["session", "anon", "ack-link"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, purpose: str, body: str) -> bytes:
    return hmac.new(secret.encode(), f"{purpose}|{body}".encode(), hashlib.sha256).digest()


def sign(secret: str, purpose: Purpose, data: dict[str, Any]) -> str:
    body = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64(_mac(secret, purpose, body))}"


def verify(secret: str, purpose: Purpose, token: str) -> dict[str, Any] | None:
    """The signed data, or None when the token is malformed or its signature is wrong
    (compared in constant time). Expiry is the caller's: it needs the router's clock."""
    body, dot, sig = token.partition(".")
    if not dot or len(token) > 4096:
        return None
    try:
        given = _unb64(sig)
        raw = _unb64(body)
        # Only the canonical spelling: base64 decodes leniently (padding, the last
        # character's spare bits), and a second spelling of one link would be a second
        # "single use" (ack_link_uses keys on the token's hash).
        if _b64(given) != sig or _b64(raw) != body:
            return None
        if not hmac.compare_digest(given, _mac(secret, purpose, body)):
            return None
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def digest(token: str) -> str:
    """What the database keeps of a used ack link or a session id: its hash, never the
    token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


# --- sessions and CSRF ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Session:
    """A live session (its row in vigil_router.console_sessions, router/console/sessions.py):
    ``sid`` is the cookie's random id, which the CSRF token is bound to."""

    sid: str
    user: str
    role: str
    expires: float


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_cookie(secret: str, sid: str, expires: float) -> str:
    """The cookie names the session, nothing more: who it is and whether it is still live
    are the database's (the signature only spares it forged or expired cookies)."""
    return sign(secret, "session", {"i": sid, "x": expires})


def _read(secret: str, purpose: Purpose, token: str, build: Callable[[dict[str, Any]], T]
          ) -> T | None:
    """The signed document as ``build`` makes it, or None: a bad signature or a malformed
    document is the same refusal."""
    data = verify(secret, purpose, token)
    if data is None:
        return None
    try:
        return build(data)
    except (KeyError, TypeError, ValueError):
        return None


def read_session_cookie(secret: str, cookie: str, now: datetime) -> str | None:
    """The session id a cookie names, if its signature holds and it has not expired."""
    read = _read(secret, "session", cookie, lambda d: (str(d["i"]), float(d["x"])))
    return read[0] if read is not None and read[1] > now.timestamp() else None


def keyed_hash(secret: str, purpose: str, text: str) -> str:
    """An HMAC the database may keep in place of ``text`` (a user's password, a submitted
    user name): comparable, not reversible without the secret."""
    return _mac(secret, purpose, text).hex()


def new_anon(secret: str) -> str:
    """The cookie of a visitor not logged in (the login form, an ack link's confirmation):
    a signed nonce their forms' CSRF token is bound to."""
    return sign(secret, "anon", {"n": secrets.token_urlsafe(16)})


def read_anon(secret: str, cookie: str) -> str | None:
    data = verify(secret, "anon", cookie)
    return str(data["n"]) if data and isinstance(data.get("n"), str) else None


def csrf_token(secret: str, nonce: str) -> str:
    """The token every form carries: an HMAC of its session's id (or anonymous cookie's nonce),
    so a token taken from one session is worthless in another."""
    return _b64(_mac(secret, "csrf", nonce))


def csrf_ok(secret: str, nonce: str | None, given: str | None) -> bool:
    if not nonce or not given:
        return False
    return hmac.compare_digest(given.encode(), csrf_token(secret, nonce).encode())


# --- ack links --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AckLink:
    """What a link is bound to: alert, escalation step, recipient; and when it expires."""

    alert_id: int
    step: int
    target: str
    expires: float


def new_ack_link(secret: str, alert_id: int, step: int, target: str, expires: float) -> str:
    return sign(secret, "ack-link", {"a": alert_id, "s": step, "t": target, "x": expires})


def read_ack_link(secret: str, token: str) -> AckLink | None:
    """The link's binding if its signature holds (expired or not: the caller records an
    expired one on the alert's timeline, which needs the alert it names)."""
    return _read(secret, "ack-link", token, lambda d: AckLink(
        int(d["a"]), int(d["s"]), str(d["t"]), float(d["x"])))
