"""Failed console logins, counted in the router database
(``vigil_router.console_login_failures``, migrations 0011 and 0012) so every replica behind
one database enforces one limit (``console.login_limit``): per submitted user name from one
address, per name from everywhere (much higher, so no single address can lock a user out),
and per client address (the peer, or the client a trusted proxy names).

A name is counted whether or not it is a configured user, and the refusal (429) comes before
the password is looked at: the answer never tells whether a user exists. The name is kept as
an HMAC (an unknown name is an attacker's string). Each attempt holds transaction-scoped
advisory locks on its keys, so concurrent guesses (on any replica) can't all read the count
before any of them adds to it: the limit holds exactly. An attempt that finds a key locked is
refused at once (429, retry after a second) rather than queued holding one of the pool's
connections, which the webhook needs.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta
from typing import Any

from router.config import Console
from router.console import tokens

USER, ADDRESS, USER_AT = "user", "address", "user-address"


def client_key(address: str) -> str:
    """The address as the limits count it: an IPv6 client is its /64, the block one host is
    usually given (counted per address, one client had 2^64 allowances)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:   # ::ffff:a.b.c.d is that IPv4 client
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def keys(cfg: Console, name: str, address: str) -> list[tuple[str, str, int]]:
    """(scope, key, limit) for an attempt. A name is limited per address first: counted per
    name alone, a few wrong passwords from anywhere locked its user out (migration 0012)."""
    limit, secret = cfg.login_limit, str(cfg.secret)
    address = client_key(address)
    return [(USER_AT, tokens.keyed_hash(secret, "login-user-at", f"{name}\0{address}"),
             limit.per_user_and_address),
            (USER, tokens.keyed_hash(secret, "login-user", name), limit.per_user),
            (ADDRESS, address, limit.per_address)]


async def retry_after(conn: Any, cfg: Console, name: str, address: str,
                      now: datetime) -> int:
    """Seconds until this attempt may be made (0: now). Call inside a transaction: it takes
    the keys' locks, held until that transaction ends."""
    window = timedelta(seconds=cfg.login_limit.window)
    wait = 0.0
    attempt = keys(cfg, name, address)
    for scope, key, _ in attempt:
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
                                 (f"vigil-console-login|{scope}|{key}",))
        row = await cur.fetchone()
        if not (row and row[0]):
            return 1        # another attempt on this name or address is being counted
    for scope, key, limit in attempt:
        # The limit-th most recent failure in the window: once it leaves the window, there
        # are fewer than `limit` left and attempts are allowed again.
        cur = await conn.execute(
            "SELECT failed_at FROM vigil_router.console_login_failures WHERE scope = %s "
            "AND key = %s AND failed_at > %s ORDER BY failed_at DESC OFFSET %s LIMIT 1",
            (scope, key, now - window, limit - 1))
        row = await cur.fetchone()
        if row is not None:
            wait = max(wait, (row[0] + window - now).total_seconds())
    return math.ceil(wait)


async def failed(conn: Any, cfg: Console, name: str, address: str, now: datetime) -> None:
    for scope, key, _ in keys(cfg, name, address):
        await conn.execute("INSERT INTO vigil_router.console_login_failures (scope, key, "
                           "failed_at) VALUES (%s, %s, %s)", (scope, key, now))


async def succeeded(conn: Any, cfg: Console, name: str, address: str) -> None:
    """A user who got in starts afresh (their address's count stays: one good password
    must not buy another name more guesses)."""
    for scope, key, _ in keys(cfg, name, address):
        if scope != ADDRESS:
            await conn.execute("DELETE FROM vigil_router.console_login_failures "
                               "WHERE scope = %s AND key = %s", (scope, key))


async def sweep(conn: Any, cfg: Console, now: datetime) -> None:
    """Housekeeping: failures older than the window count for nothing."""
    await conn.execute("DELETE FROM vigil_router.console_login_failures WHERE failed_at <= %s",
                       (now - timedelta(seconds=cfg.login_limit.window),))
