"""The fast tier: no PostgreSQL, no network beyond 127.0.0.1 servers a test starts itself.

tests/conftest.py is loaded too (pytest always loads the rootdir's conftest), but its
database fixtures are lazy: nothing here requests them. To keep it that way, every unit test
runs with psycopg's connect entry points replaced by one that fails loudly, so a test that
reaches for the database fails here instead of quietly turning the tier slow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


class DatabaseForbidden(AssertionError):
    """A unit test tried to open a PostgreSQL connection."""


def _forbidden(*args: Any, **kwargs: Any) -> NoReturn:
    raise DatabaseForbidden("the unit tier must not connect to PostgreSQL: move this test "
                            "next to its package under tests/ or use a fake")


UNIT_TIMEOUT = 20  # seconds; the suite's 300 s would let one hung unit test eat the tier


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A conftest hook sees the whole session's items: only this tier's get the short timeout.
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(UNIT_TIMEOUT))


@pytest.fixture(autouse=True)
def _no_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(psycopg, "connect", _forbidden)
    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(_forbidden))
    monkeypatch.setattr(psycopg.AsyncConnection, "connect", classmethod(_forbidden))
    yield


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``write_yaml(data, name="config.yml")`` -> the path; str data is written as is."""

    def write(data: Any, name: str = "config.yml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return write
