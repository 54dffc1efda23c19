"""A TCP proxy between a vigil part and PostgreSQL that can refuse, pause and freeze.

The fault suite puts it between the router or exporter and the real PostgreSQL, then breaks
the path the way production breaks it:

- ``refuse()``: the database is down. The listening socket is closed, so new connections get
  ECONNREFUSED, and every open connection is reset.
- ``pause()``: a network stall. New connections are accepted but not forwarded; bytes on open
  connections are held back. ``heal()`` delivers everything and connections survive.
- ``freeze()``: the host is gone (partition, dead node). Open connections become black holes:
  bytes are swallowed, nothing is answered, nothing is closed, and they stay dead after
  ``heal()``, as a TCP connection to a vanished peer does. New connections hang until healed.

It runs its own asyncio loop in a daemon thread so synchronous and asynchronous tests can drive
it alike; every control call waits until the loop has applied it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

_CHUNK = 65536


class _Conn:
    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.frozen = False  # a black hole for good, as a connection to a vanished host


class FaultProxy:
    """``with FaultProxy(5432) as proxy: dsn = ...port=proxy.port...``"""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = "pass"
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="fault-proxy")
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._flowing: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- control (any thread) -------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._call(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def refuse(self) -> None:
        self._call(self._set("refuse"))

    def pause(self) -> None:
        self._call(self._set("pause"))

    def freeze(self) -> None:
        self._call(self._set("freeze"))

    def heal(self) -> None:
        self._call(self._set("pass"))

    @contextlib.contextmanager
    def fault(self, mode: str) -> Iterator[None]:
        """``with proxy.fault("freeze"): ...`` heals on the way out, whatever happens."""
        {"refuse": self.refuse, "pause": self.pause, "freeze": self.freeze}[mode]()
        try:
            yield
        finally:
            self.heal()

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(10)

    # -- the loop ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        if self._flowing is None:
            self._flowing = asyncio.Event()
            self._flowing.set()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._handle, sock=sock)

    async def _set(self, mode: str) -> None:
        assert self._flowing is not None
        previous, self.mode = self.mode, mode
        if mode == "refuse":
            if self._server is not None:
                self._server.close()
                self._server = None
            for conn in list(self._conns):
                self._reset(conn)
        elif mode == "freeze":
            for conn in self._conns:
                conn.frozen = True
        if mode in ("pause", "freeze"):
            self._flowing.clear()
        else:
            self._flowing.set()
        if previous == "refuse" and mode != "refuse":
            await self._listen()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            self._reset(conn)
        for task in list(self._tasks):
            task.cancel()
        # Let the pumps and then their handlers run to their end, so stopping the loop leaves
        # no pending task behind ("Task was destroyed but it is pending").
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for _ in range(3):
            await asyncio.sleep(0)

    def _reset(self, conn: _Conn) -> None:
        for w in (conn.client, conn.upstream):
            if w is None:
                continue
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close with RST, as a crashed server's kernel does.
                sock = w.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
            w.transport.abort()
        self._conns.discard(conn)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        self.accepted += 1
        conn = _Conn(writer)
        self._conns.add(conn)
        try:
            await self._flowing.wait()  # pause/freeze: accepted, never forwarded until healed
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            conn.upstream = up_writer
            tasks = [asyncio.create_task(self._pump(conn, reader, up_writer)),
                     asyncio.create_task(self._pump(conn, up_reader, writer))]
            self._tasks.update(tasks)
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            if conn in self._conns and not conn.frozen:
                self._conns.discard(conn)
                for w in (writer, conn.upstream):
                    if w is not None:
                        w.close()

    async def _pump(self, conn: _Conn, src: asyncio.StreamReader,
                    dst: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        while True:
            data = await src.read(_CHUNK)
            if conn.frozen:
                # Swallow everything and never close: the peer sees silence, not an error.
                if not data:
                    await asyncio.Event().wait()
                continue
            if not data:
                with contextlib.suppress(OSError):
                    dst.write_eof()
                return
            await self._flowing.wait()
            if conn.frozen:
                continue
            dst.write(data)
            await dst.drain()
