"""Fixtures of the router's fast tier."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from router.app import create_app
from router.config import load_config

from .escalation_data import escalation_doc


@pytest.fixture
def router_app(write_yaml: Callable[..., Path]) -> web.Application:
    """The router app as create_app builds it (routes, console, the access log's words),
    never started: no database is touched."""
    write_yaml(escalation_doc(), "escalation.yml")
    path = write_yaml({"database": {"dsn": "postgresql://r@127.0.0.1/router"},
                       "auth": {"bearer_token": "unit-token-5d"},
                       "console": {"secret": "s" * 32,
                                   "users": {"a": {"password": "pw-unit-1",
                                                   "role": "responder"}}}},
                      "router.yml")
    return create_app(load_config(path), background=False)
