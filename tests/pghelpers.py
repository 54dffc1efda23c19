"""Small synchronous PostgreSQL helpers for tests: run a query, poll with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vigil import pg


def query(dsn: str, text: str, params: Any = None) -> list[tuple[Any, ...]]:
    with pg.connect(dsn) as conn:
        cur = conn.execute(text, params)
        return cur.fetchall() if cur.description else []


def one(dsn: str, text: str, params: Any = None) -> tuple[Any, ...]:
    rows = query(dsn, text, params)
    assert rows, text
    return rows[0]


def wait_for(fn: Callable[[], Any], pred: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    """Poll ``fn`` until ``pred`` holds (no sleep-and-hope); fail with the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if pred(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met before deadline; last value {value!r}")
        time.sleep(0.1)
