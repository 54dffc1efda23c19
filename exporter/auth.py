"""Basic auth for /metrics (``basic_auth_users`` of the web config), safe under attack.

bcrypt costs milliseconds to hundreds of milliseconds by design, so:

- it runs in a worker thread, never on the event loop that serves scrapes;
- a verified credential is cached (by its SHA-256): Prometheus sends the same one each scrape;
- a rejected credential is remembered for ``FAILED_TTL`` seconds and answered 401 at once,
  and fresh failed attempts are limited to ``FAILED_PER_SECOND`` (beyond that: 429 without
  running bcrypt), so wrong passwords cannot stall scrapes;
- an unknown user is checked against a dummy hash of the *same* cost as the configured ones,
  so the time of a 401 does not tell which usernames exist.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import bcrypt
from aiohttp import web

OPEN_PATHS = frozenset({"/-/healthy", "/-/ready"})
CACHE_MAX = 1024
FAILED_TTL = 60.0
FAILED_PER_SECOND = 5.0
FAILED_BURST = 10.0
_COST = re.compile(rb"^\$2[aby]?\$(\d\d)\$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def cost(hashed: bytes) -> int:
    m = _COST.match(hashed)
    return int(m.group(1)) if m else 10


class BasicAuth:
    def __init__(self, users: dict[str, str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.users = {u: h.encode() for u, h in users.items()}
        self.clock = clock
        rounds = max((cost(h) for h in self.users.values()), default=10)
        self.dummy = bcrypt.hashpw(b"vigil-dummy", bcrypt.gensalt(rounds=rounds))
        self._ok: set[bytes] = set()
        self._failed: OrderedDict[bytes, float] = OrderedDict()
        self._tokens = FAILED_BURST
        self._refilled = clock()

    def _verify(self, user: str, password: str) -> bool:
        hashed = self.users.get(user)
        return bcrypt.checkpw(password.encode(), hashed or self.dummy) and hashed is not None

    def _allow_attempt(self) -> bool:
        now = self.clock()
        self._tokens = min(FAILED_BURST,
                           self._tokens + (now - self._refilled) * FAILED_PER_SECOND)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def check(self, header: str | None) -> int:
        """200 (let in), 401 (wrong or missing) or 429 (too many failed attempts)."""
        if not header or not header.startswith("Basic "):
            return 401
        digest = hashlib.sha256(header.encode()).digest()
        if digest in self._ok:
            return 200
        now = self.clock()
        until = self._failed.get(digest)
        if until is not None and until > now:
            return 401
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return 401
        # Every bcrypt run that is not a cache hit costs a token; a correct password is
        # refunded below, so only failures are limited.
        if not self._allow_attempt():
            return 429
        ok = await asyncio.get_running_loop().run_in_executor(None, self._verify, user, password)
        if ok:
            self._tokens = min(FAILED_BURST, self._tokens + 1)
            if len(self._ok) < CACHE_MAX:
                self._ok.add(digest)
            return 200
        self._failed[digest] = now + FAILED_TTL
        while len(self._failed) > CACHE_MAX:
            self._failed.popitem(last=False)
        return 401

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        status = await self.check(request.headers.get("Authorization"))
        if status == 200:
            return await handler(request)
        if status == 429:
            return web.Response(status=429, text="Too many failed logins\n",
                                headers={"Retry-After": "1"})
        return web.Response(status=401, text="Unauthorized\n",
                            headers={"WWW-Authenticate": 'Basic realm="vigil-exporter"'})
