"""The HTTP side: /metrics (pre-rendered bytes), /-/healthy, /-/ready and a landing page.

``create_app`` does no I/O; pools and the scheduler start in ``cleanup_ctx`` and stop on
SIGTERM through ``web.run_app``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from exporter.auth import BasicAuth
from exporter.config import ExporterConfig
from exporter.scheduler import Exporter
from exporter.webconfig import WebConfig, headers_middleware, ssl_context
from vigil.core import listen

EXPORTER = web.AppKey("exporter", Exporter)
CONFIG = web.AppKey("config", ExporterConfig)


async def metrics(request: web.Request) -> web.Response:
    h = request.headers
    body = request.app[EXPORTER].renderer.pick(h.get("Accept", ""), h.get("Accept-Encoding", ""))
    return web.Response(body=body.data, headers=body.headers)


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    failing = request.app[EXPORTER].not_ready()
    if not failing:
        return web.Response(text="Ready.\n")
    # A count, not names: /-/ready is open even when /metrics needs credentials.
    return web.Response(status=503, text=f"Not ready: {len(failing)} target(s) failing.\n")


async def index(request: web.Request) -> web.Response:
    path = request.app[CONFIG].web.telemetry_path
    return web.Response(content_type="text/html", text=(
        "<html><head><title>vigil exporter</title></head><body><h1>vigil exporter</h1>"
        f'<p><a href="{path}">Metrics</a></p></body></html>'))


def create_app(config: ExporterConfig, web_config: WebConfig | None = None,
               schedule: bool = True) -> web.Application:
    """The exporter as an aiohttp app. ``schedule=False`` leaves runs to the caller (tests)."""
    middlewares: list[Middleware] = []
    if web_config is not None and web_config.basic_auth_users:
        middlewares.append(BasicAuth(dict(web_config.basic_auth_users)).middleware)
    if web_config is not None and web_config.http_server_config.headers:
        middlewares.append(headers_middleware(dict(web_config.http_server_config.headers)))
    app = web.Application(middlewares=middlewares)
    app[CONFIG] = config
    app[EXPORTER] = Exporter(config)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        exporter = app[EXPORTER]
        await exporter.start(schedule=schedule)
        # Move the long-lived objects (modules, config, pools) out of the collector's reach:
        # a full GC pass over them would otherwise stall scrapes for milliseconds.
        gc.collect()
        gc.freeze()
        yield
        await exporter.stop()

    app.cleanup_ctx.append(lifespan)
    app.router.add_get(config.web.telemetry_path, metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/", index)
    return app


def run(config: ExporterConfig, web_config: WebConfig | None = None,
        web_config_path: str | None = None, listen_address: str | None = None) -> None:
    host, port = listen.parse(listen_address or config.web.listen_address)
    ctx = None
    if web_config is not None and web_config_path is not None:
        ctx = ssl_context(web_config, Path(web_config_path).parent)
    web.run_app(create_app(config, web_config), host=host, port=port, ssl_context=ctx,
                access_log=None, print=None, shutdown_timeout=5.0)
