"""Polling with a deadline (never sleep-and-hope), free ports and child processes that never
outlive a test: one of each for every test.

A server or worker a test starts is a ``child(...)`` (or ``await async_child(...)``): it gets
SIGTERM when the test process dies, even by SIGKILL, so a killed run leaves nothing answering
on its ports (vigil.stack.procs.die_with_parent_preexec, which the test stacks use too).
``killed_on_exit`` ends it when the test is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from vigil.stack import procs

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline; the message says what and the last
    value (and whatever ``explain`` adds)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _timed_out(timeout: float, describe: str, value: Any, error: BaseException | None,
               explain: Callable[[], str] | None) -> WaitTimeout:
    err = f" (last error: {error})" if error is not None else ""
    extra = f"\n{explain()}" if explain is not None else ""
    return WaitTimeout(f"timed out after {timeout:.0f}s waiting for {describe}; "
                       f"last value {value!r}{err}{extra}")


def wait_for(check: Callable[[], T], pred: Callable[[T], bool] | None = None,
             timeout: float = 20.0, *, interval: float = 0.1, describe: str = "condition",
             explain: Callable[[], str] | None = None,
             retry_on: tuple[type[BaseException], ...] = ()) -> T:
    """Call ``check`` until ``pred(value)`` holds (default: the value is truthy) and return
    the value; raise WaitTimeout after ``timeout`` seconds. Exceptions in ``retry_on`` count
    as "not yet" (and are quoted if time runs out)."""
    deadline = time.monotonic() + timeout
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            value = check()
            if pred(value) if pred is not None else value:
                return value
        except retry_on as exc:
            error = exc
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, describe, value, error, explain)
        time.sleep(interval)


async def wait_for_async(check: Callable[[], Awaitable[bool] | bool], within: float = 20.0,
                         step: float = 0.05, describe: str = "condition") -> None:
    """``wait_for`` for the event loop: ``check`` may be sync or async."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise _timed_out(within, describe, result, None, None)
        await asyncio.sleep(step)


@contextlib.contextmanager
def killed_on_exit(proc: subprocess.Popen[Any]) -> Iterator[subprocess.Popen[Any]]:
    """Whatever happens in the block, ``proc`` does not outlive it (killed and reaped)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def child(argv: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(argv, **popen)`` that dies with this test process. From the test's
    own (main) thread: the kernel ties the child to the thread that starts it."""
    return subprocess.Popen(list(argv), preexec_fn=procs.die_with_parent_preexec(),  # noqa: PLW1509 (prctl only)
                            **popen)


async def async_child(argv: Sequence[str], **kwargs: Any) -> asyncio.subprocess.Process:
    """``asyncio.create_subprocess_exec(*argv, **kwargs)`` that dies with this test process
    (the event loop of a test runs in its main thread)."""
    return await asyncio.create_subprocess_exec(
        *argv, preexec_fn=procs.die_with_parent_preexec(), **kwargs)
