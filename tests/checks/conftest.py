"""A fresh demo database per test, plus polling helpers (no sleep-and-hope)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from vigil import demo, pg


@pytest.fixture
def demo_db(admin_dsn: str, make_database: Callable[[str], str]) -> demo.DemoInfo:
    dsn = make_database("demo")
    return demo.setup(admin_dsn, pg.dbname_of(dsn), tenants=3)


def query(dsn: str, text: str, params: Any = None) -> list[tuple[Any, ...]]:
    with pg.connect(dsn) as conn:
        cur = conn.execute(text, params)
        return cur.fetchall() if cur.description else []


def one(dsn: str, text: str, params: Any = None) -> tuple[Any, ...]:
    rows = query(dsn, text, params)
    assert rows, text
    return rows[0]


def wait_for(fn: Callable[[], Any], pred: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if pred(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met before deadline; last value {value!r}")
        time.sleep(0.1)
