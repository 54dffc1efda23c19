"""Basic auth under wrong passwords (#15 item 8): bcrypt off the event loop, failures cached
and rate-limited, unknown users as costly as known ones."""

from __future__ import annotations

import base64
import threading

import bcrypt
import pytest

from exporter import auth
from exporter.auth import BasicAuth


def _header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Thread ids of every bcrypt verification."""
    seen: list[int] = []
    real = bcrypt.checkpw

    def checkpw(password: bytes, hashed: bytes) -> bool:
        seen.append(threading.get_ident())
        return real(password, hashed)

    monkeypatch.setattr(auth.bcrypt, "checkpw", checkpw)
    return seen


HASH = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds=5)).decode()


async def test_bcrypt_runs_off_the_event_loop(calls: list[int]) -> None:
    a = BasicAuth({"prometheus": HASH})
    assert await a.check(_header("prometheus", "wrong")) == 401
    assert await a.check(_header("prometheus", "right")) == 200
    assert calls and threading.get_ident() not in calls


async def test_a_wrong_password_is_verified_once_then_answered_from_cache(
        calls: list[int]) -> None:
    clock = Clock()
    a = BasicAuth({"prometheus": HASH}, clock=clock)
    for _ in range(20):
        assert await a.check(_header("prometheus", "wrong")) == 401
    assert len(calls) == 1
    clock.now += auth.FAILED_TTL + 1
    assert await a.check(_header("prometheus", "wrong")) == 401
    assert len(calls) == 2


async def test_fresh_failed_attempts_are_rate_limited_but_a_verified_login_is_not(
        calls: list[int]) -> None:
    clock = Clock()
    a = BasicAuth({"prometheus": HASH}, clock=clock)
    assert await a.check(_header("prometheus", "right")) == 200
    statuses = [await a.check(_header("prometheus", f"guess-{i}")) for i in range(30)]
    assert statuses.count(401) == auth.FAILED_BURST and statuses.count(429) == 30 - 10
    assert len(calls) == 1 + auth.FAILED_BURST  # a 429 costs no bcrypt
    assert await a.check(_header("prometheus", "right")) == 200  # cached: never limited
    clock.now += 1.0
    assert await a.check(_header("prometheus", "guess-new")) == 401  # tokens refill


def test_unknown_users_cost_as_much_as_known_ones() -> None:
    costly = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=9)).decode()
    a = BasicAuth({"cheap": HASH, "prometheus": costly})
    assert auth.cost(a.dummy) == 9 == auth.cost(costly.encode())
