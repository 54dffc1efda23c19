"""Pre-rendered /metrics bodies: rendered once per change of the snapshot, served as bytes.

Four variants (Prometheus text 0.0.4 and OpenMetrics 1.0, each plain and gzip) are rendered
off the scrape path right after a collection changes something. A scrape only picks bytes.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics import exposition as om_exposition

from exporter.metrics import StoreCollector
from exporter.snapshot import Store

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass(frozen=True)
class Body:
    data: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Rendered:
    version: int
    text: Body
    text_gz: Body
    om: Body
    om_gz: Body


def _body(data: bytes, ctype: str, gz: bool) -> Body:
    headers = {"Content-Type": ctype, "Vary": "Accept, Accept-Encoding"}
    if gz:
        data = gzip.compress(data, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Body(data, headers)


class Renderer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(store))
        self.renders = 0
        self.current = self._render()

    def _render(self) -> Rendered:
        version = self.store.version
        text = generate_latest(self.registry)
        om: bytes = om_exposition.generate_latest(self.registry)  # type: ignore[no-untyped-call]
        self.renders += 1
        return Rendered(version, _body(text, TEXT, False), _body(text, TEXT, True),
                        _body(om, OPENMETRICS, False), _body(om, OPENMETRICS, True))

    def refresh(self) -> bool:
        """Re-render if the snapshot changed since the last render."""
        if self.current.version == self.store.version:
            return False
        self.current = self._render()
        return True

    def pick(self, accept: str, accept_encoding: str) -> Body:
        r = self.current
        enc = _weights(accept_encoding)
        gz = enc.get("gzip", enc.get("*", 0.0)) > 0
        types = _weights(accept)
        om = types.get("application/openmetrics-text", 0.0)
        text = max(types.get("text/plain", 0.0), types.get("text/*", 0.0),
                   types.get("*/*", 0.0))
        if om > 0 and om >= text:
            return r.om_gz if gz else r.om
        return r.text_gz if gz else r.text


def _weights(header: str) -> dict[str, float]:
    """``a;q=0.5, b`` -> {"a": 0.5, "b": 1.0}; the highest q per name; q=0 means "not"."""
    out: dict[str, float] = {}
    for item in header.split(","):
        name, *params = (p.strip() for p in item.split(";"))
        if not name:
            continue
        q = 1.0
        for p in params:
            key, _, val = p.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(1.0, max(0.0, float(val)))
                except ValueError:
                    q = 0.0
        name = name.lower()
        out[name] = max(q, out.get(name, 0.0))
    return out
