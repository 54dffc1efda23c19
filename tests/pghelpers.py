"""Small synchronous PostgreSQL helpers for tests: run a query; polling with a deadline and
free ports are support.polling's (re-exported here for the many tests that import them)."""

from __future__ import annotations

from typing import Any

from support.polling import free_port, wait_for

from vigil.core import pg

__all__ = ["free_port", "one", "query", "wait_for"]


def query(dsn: str, text: str, params: Any = None) -> list[tuple[Any, ...]]:
    with pg.connect(dsn) as conn:
        cur = conn.execute(text, params)
        return cur.fetchall() if cur.description else []


def one(dsn: str, text: str, params: Any = None) -> tuple[Any, ...]:
    rows = query(dsn, text, params)
    assert rows, text
    return rows[0]
