"""The router's one way to read Prometheus (the console's overview, an alert's context), at
the top-level ``prometheus_url`` of router.yml.

It goes through the project's one Prometheus client (vigil.core.prom, blocking) in a
thread, so the event loop never waits on Prometheus, and gives up after ``deadline``. Every
way a read can fail (Prometheus down or answering an error, too slow, an answer of an
unexpected shape) is one ``PrometheusUnavailable`` whose message says which: callers show it
instead of failing the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from vigil.core.prom import Prom, PrometheusUnavailable

T = TypeVar("T")


async def read(url: str, work: Callable[[Prom], T], *, call_timeout: float,
               deadline: float) -> T:
    """``work(Prom(url))`` in a thread; ``call_timeout`` bounds each HTTP call, ``deadline``
    all of them (the thread then finishes its current call on its own, within
    ``call_timeout``)."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(work, Prom(url, timeout=call_timeout)), deadline)
    except TimeoutError:
        raise PrometheusUnavailable(
            f"Prometheus at {url} did not answer within {deadline:g}s") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise PrometheusUnavailable(f"Prometheus at {url} answered something unexpected "
                                    f"({type(exc).__name__})") from None
