"""One demo database per test module: the security tests restore what they break."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from vigil import demo
from vigil.core import pg


@pytest.fixture(scope="module")
def shared_demo(admin_dsn: str) -> Iterator[demo.DemoInfo]:
    name = f"vigil_sec_{uuid.uuid4().hex[:10]}"
    info = demo.setup(admin_dsn, name, tenants=3)
    yield info
    pg.drop_database(admin_dsn, name)
