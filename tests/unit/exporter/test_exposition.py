"""exporter/exposition.py: /metrics bodies rendered once per snapshot change, picked by the
scrape's Accept and Accept-Encoding headers."""

from __future__ import annotations

import gzip

import pytest

from exporter.collectors.spec import CollectorSpec, MetricSpec, QuerySpec
from exporter.exposition import OPENMETRICS, TEXT, Renderer
from exporter.snapshot import RunResult, Store

SPEC = CollectorSpec("app", 15.0, 5.0, 1.0, (QuerySpec("SELECT 1", (
    MetricSpec("app_rows", "gauge", "rows in the app"),)),))


@pytest.fixture
def renderer() -> Renderer:
    store = Store([SPEC], ["db1"])
    store.apply_success("db1", "app", RunResult(samples={"app_rows": {(): 5.0}}), 0.1)
    return Renderer(store)


def test_the_body_is_rendered_once_per_change_not_per_scrape(renderer: Renderer) -> None:
    assert renderer.renders == 1
    assert renderer.refresh() is False
    for _ in range(3):
        renderer.pick("", "")
    assert renderer.renders == 1
    renderer.store.apply_success("db1", "app", RunResult(samples={"app_rows": {(): 6.0}}), 0.1)
    assert renderer.refresh() is True and renderer.renders == 2
    assert b'app_rows{target="db1"} 6.0' in renderer.pick("", "").data


@pytest.mark.parametrize(("accept", "ctype"), [
    ("", TEXT),
    ("text/plain", TEXT),
    ("application/openmetrics-text; version=1.0.0", OPENMETRICS),
    ("application/openmetrics-text;q=0.5, text/plain;q=0.9", TEXT),
    ("application/openmetrics-text;version=1.0.0;q=0.9, text/plain;q=0.5", OPENMETRICS),
    ("application/openmetrics-text;q=0, */*", TEXT),
    ("application/openmetrics-text;q=bogus", TEXT),
    ("APPLICATION/OPENMETRICS-TEXT", OPENMETRICS),
    ("application/openmetrics-text, text/*", OPENMETRICS),       # a tie goes to OpenMetrics
])
def test_the_format_follows_accept(renderer: Renderer, accept: str, ctype: str) -> None:
    body = renderer.pick(accept, "")
    assert body.headers["Content-Type"] == ctype
    assert body.headers["Vary"] == "Accept, Accept-Encoding"
    assert (body.data.endswith(b"# EOF\n")) is (ctype == OPENMETRICS)


@pytest.mark.parametrize(("encoding", "gz"), [
    ("gzip", True), ("deflate, gzip;q=0.5", True), ("*", True), ("gzip;q=0", False),
    ("identity", False), ("", False),
])
def test_gzip_only_when_the_scraper_accepts_it(renderer: Renderer, encoding: str,
                                               gz: bool) -> None:
    body = renderer.pick("", encoding)
    assert (body.headers.get("Content-Encoding") == "gzip") is gz
    plain = renderer.pick("", "").data
    assert (gzip.decompress(body.data) if gz else body.data) == plain


def test_gzip_bodies_are_byte_identical_across_renders(renderer: Renderer) -> None:
    before = renderer.pick("", "gzip").data
    renderer.store.register_collector("db1", "other")
    renderer.store.targets["db1"].status.pop("other")
    renderer.refresh()
    assert renderer.pick("", "gzip").data == before          # mtime=0: no timestamp inside
