"""The router reads Prometheus in threads of its own (router/prom.py): a Prometheus that
accepts connections and never answers (frozen, or a partition behind a proxy) holds each read
for its whole timeout, and the event loop's default threads are where the email and file
channels send pages and aiohttp resolves a webhook's host name. Every console overview asks
a dozen panels at once and reloads every 30 s."""

from __future__ import annotations

import asyncio
import socket

import pytest

from router import prom
from vigil.core.prom import PrometheusUnavailable


async def test_a_hanging_prometheus_leaves_the_default_threads_free_for_pages() -> None:
    with socket.socket() as hole:           # listens, never answers
        hole.bind(("127.0.0.1", 0))
        hole.listen(128)
        url = f"http://127.0.0.1:{hole.getsockname()[1]}"
        # More reads than the default executor ever has threads (at most 32).
        reads = [asyncio.ensure_future(prom.read(url, lambda p: p.rule_groups(),
                                                 call_timeout=3.0, deadline=3.0))
                 for _ in range(40)]
        await asyncio.sleep(0)              # each read has handed its work to a thread
        # What an email page does (router/channels/email.py): it gets a thread now, not
        # after the reads' 3 s.
        await asyncio.wait_for(asyncio.to_thread(int), 1.0)
        for outcome in await asyncio.gather(*reads, return_exceptions=True):
            assert isinstance(outcome, PrometheusUnavailable), outcome


async def test_a_read_past_its_deadline_says_which_prometheus() -> None:
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        url = f"http://127.0.0.1:{hole.getsockname()[1]}"
        with pytest.raises(PrometheusUnavailable, match=f"{url} did not answer within 0.5s"):
            await prom.read(url, lambda p: p.rule_groups(), call_timeout=3.0,
                            deadline=0.5)
