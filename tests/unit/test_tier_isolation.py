"""The tier's own promise: a unit test that reaches for PostgreSQL fails at once."""

from __future__ import annotations

import psycopg
import pytest

from vigil.core import pg


def test_a_unit_test_cannot_open_a_database_connection() -> None:
    with pytest.raises(AssertionError, match="unit tier"):
        psycopg.connect("host=127.0.0.1 dbname=postgres")
    with pytest.raises(AssertionError, match="unit tier"):
        pg.connect(pg.DEFAULT_ADMIN_DSN)


async def test_a_unit_test_cannot_open_an_async_connection() -> None:
    with pytest.raises(AssertionError, match="unit tier"):
        await psycopg.AsyncConnection.connect("host=127.0.0.1 dbname=postgres")
