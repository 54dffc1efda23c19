"""A database with vigil_monitor installed, and a DSN for the maintainer role."""

from __future__ import annotations

import pytest

from vigil import schema
from vigil.demo.app import role_dsn
from vigil.schema.contract import DEFAULT_MAINTAINER_ROLE


@pytest.fixture
def monitored_db(fresh_db: str) -> str:
    schema.install(fresh_db)
    return fresh_db


@pytest.fixture
def maintainer_dsn(monitored_db: str) -> str:
    return role_dsn(monitored_db, DEFAULT_MAINTAINER_ROLE)
