"""Router fixtures: a migrated fresh database, a real HTTP sink, an app on a ManualClock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from router_helpers import Router, Sink, serving, write_router_yml

from router.app import create_app
from router.config import load_config
from router.migrate import migrate
from vigil.core.clock import ManualClock


@pytest.fixture
def router_db(fresh_db: str) -> str:
    migrate(fresh_db)
    return fresh_db


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with serving(Sink()) as s:
        yield s


@pytest.fixture
def make_router(router_db: str, sink: Sink, tmp_path: Path, aiohttp_client: Any
                ) -> Callable[..., Any]:
    async def factory(escalation: Path | None = None, **overrides: Any) -> Router:
        path = write_router_yml(tmp_path, router_db, escalation=escalation, **overrides)
        config = load_config(path, env={"VIGIL_SINK_URL": sink.url})
        clock = ManualClock()
        client = await aiohttp_client(create_app(config, clock=clock, background=False))
        return Router(client, clock, sink, router_db, config)
    return factory


@pytest.fixture
async def router(make_router: Callable[..., Any]) -> Router:
    r: Router = await make_router()
    return r
