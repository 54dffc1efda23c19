"""The router served on a free port of 127.0.0.1 from its own event loop in a thread, for
tests whose client is synchronous (schemathesis, the vigil CLI)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

from router.app import create_app


class ThreadedRouter:
    def __init__(self, config: Any) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.base = ""
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _serve(self) -> web.AppRunner:
        runner = web.AppRunner(create_app(self.config, background=False))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return runner

    def start(self) -> ThreadedRouter:
        self.thread.start()
        self.runner = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(30)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
