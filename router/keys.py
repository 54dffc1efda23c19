"""Typed keys for the state the aiohttp application holds."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from router.channels import Channel
from router.config import Config
from router.engine import Engine
from router.health import Health
from router.matrix import Matrix
from router.metrics import Metrics
from router.outbox import Sender
from vigil.core.clock import Clock

CONFIG = web.AppKey("config", Config)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
MATRIX = web.AppKey("matrix", Matrix)
METRICS = web.AppKey("metrics", Metrics)
POOL: web.AppKey[AsyncConnectionPool[Any]] = web.AppKey("pool")
ENGINE = web.AppKey("engine", Engine)
SENDER = web.AppKey("sender", Sender)
HEALTH = web.AppKey("health", Health)
CHANNELS: web.AppKey[dict[str, Channel]] = web.AppKey("channels")
