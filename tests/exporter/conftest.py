"""Exporter fixtures: config factory and in-process exporters (helpers: exporter_helpers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from exporter_helpers import running_exporters

from exporter.config import ExporterConfig, build_config
from exporter.scheduler import Exporter


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., ExporterConfig]:
    """``make_config(dsn, custom=[...], **overrides)``: builtins off unless listed."""

    def factory(dsn: str, custom: list[dict[str, Any]] | None = None,
                builtins: tuple[str, ...] = (), **extra: Any) -> ExporterConfig:
        from exporter.config import BUILTIN_COLLECTORS
        data: dict[str, Any] = {
            "targets": [{"name": "db1", "dsn": dsn}],
            "state_dir": str(tmp_path / "state"),
            "scheduler": {"start_jitter": 0},
            "collectors": {n: {"enabled": n in builtins, "interval": 1}
                           for n in BUILTIN_COLLECTORS},
            "custom_collectors": custom or [],
        }
        data.update(extra)
        return build_config(data)

    return factory


@pytest.fixture
async def started() -> AsyncIterator[Callable[..., Awaitable[Exporter]]]:
    """Start Exporters without the scheduler (tests call ``exp.run`` themselves)."""
    async with running_exporters() as start:
        yield start


