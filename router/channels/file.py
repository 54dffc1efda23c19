"""Log and file channels: for audits, demos and as a last-resort record."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from router.channels import Delivery, summary_text
from router.config import Channel as ChannelConfig
from vigil.core.logs import fields

log = logging.getLogger("vigil.router.notify")


class FileChannel:
    """Appends one JSON line per delivery (``{"idempotency_key": ..., ...}``)."""

    type = "file"

    def __init__(self, name: str, cfg: ChannelConfig) -> None:
        self.name = name
        self.path = Path(cfg.path or "notifications.jsonl")
        self.timeout = float(cfg.timeout)

    def _write(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    async def send(self, d: Delivery) -> None:
        await asyncio.to_thread(self._write, json.dumps(d.payload, default=str))


class LogChannel:
    """Writes the one-line summary to the ``vigil.router.notify`` logger."""

    type = "log"

    def __init__(self, name: str, cfg: ChannelConfig) -> None:
        self.name = name
        self.timeout = float(cfg.timeout)

    async def send(self, d: Delivery) -> None:
        log.warning("notification", extra=fields(target=d.target, key=d.key,
                                                 summary=summary_text(d.payload)))
