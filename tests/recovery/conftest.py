"""A healthy demo shared by a module: some load, the audit sealed, every fault healed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from vigil import demo
from vigil.audit.demo import seal_for_demo
from vigil.core import pg


@pytest.fixture(scope="module")
def healthy_demo(admin_dsn: str) -> Iterator[demo.DemoInfo]:
    name = f"vigil_rec_{uuid.uuid4().hex[:10]}"
    info = demo.setup(admin_dsn, name, tenants=3)
    demo.run_load(info, duration=1.0, rate=30)
    assert seal_for_demo(info.admin_dsn) > 0
    yield info
    pg.drop_database(admin_dsn, name)
