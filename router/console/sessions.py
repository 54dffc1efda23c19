"""Server-side console sessions: what makes logging out, removing a user or changing a
password end a session at once, on every replica.

The cookie is a signed random id (router/console/tokens.py); the row in
``vigil_router.console_sessions`` (migration 0011) is keyed by the id's SHA-256 and holds
the user, the role and the user's fingerprint at login: an HMAC, keyed by
``console.secret``, of name, role and password. A request is served only while its row
exists, has not expired and its fingerprint still matches the config's user; a row that no
longer matches is deleted on sight, so reverting the config does not bring it back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from router.config import Console, ConsoleUser
from router.console import tokens


def fingerprint(cfg: Console, name: str, user: ConsoleUser) -> str:
    return tokens.keyed_hash(str(cfg.secret), "user", f"{name}\0{user.role}\0{user.password}")


async def open_session(conn: Any, cfg: Console, name: str, user: ConsoleUser,
                       now: datetime) -> str:
    """Record a new session for ``name``; returns its cookie."""
    sid = tokens.new_session_id()
    expires = now + timedelta(seconds=cfg.session_ttl)
    await conn.execute(
        "INSERT INTO vigil_router.console_sessions (id_sha256, username, role, fingerprint, "
        "created_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
        (tokens.digest(sid), name, user.role, fingerprint(cfg, name, user), now, expires))
    return tokens.session_cookie(str(cfg.secret), sid, expires.timestamp())


async def live(conn: Any, cfg: Console, sid: str, now: datetime) -> tokens.Session | None:
    """The session ``sid`` names if it is still live for the config's user, else None."""
    cur = await conn.execute(
        "SELECT username, role, fingerprint, expires_at FROM vigil_router.console_sessions "
        "WHERE id_sha256 = %s AND expires_at > %s", (tokens.digest(sid), now))
    row = await cur.fetchone()
    if row is None:
        return None
    name, role, mark, expires = row
    user = cfg.users.get(name)
    if user is None or user.role != role or mark != fingerprint(cfg, name, user):
        await revoke(conn, sid)
        return None
    return tokens.Session(sid, name, role, expires.timestamp())


async def revoke(conn: Any, sid: str) -> None:
    await conn.execute("DELETE FROM vigil_router.console_sessions WHERE id_sha256 = %s",
                       (tokens.digest(sid),))


async def sweep(conn: Any, now: datetime) -> None:
    """Housekeeping: expired sessions are refused anyway; this only keeps the table small."""
    await conn.execute("DELETE FROM vigil_router.console_sessions WHERE expires_at <= %s",
                       (now,))
