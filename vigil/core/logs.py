"""Structured logging: one named logger per package, constant messages, data in fields.

Fields are passed as ``extra={"f_target": "db1"}``; the ``f_`` prefix keeps them
apart from LogRecord's own attributes and marks them for scrubbing.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any

from vigil.core.secrets import ScrubFilter


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key.startswith("f_"):
                doc[key[2:]] = value
        if record.exc_text:
            doc["error"] = record.exc_text
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k[2:]}={v}" for k, v in record.__dict__.items() if k.startswith("f_"))
        base = f"{record.levelname.lower():5} {record.name}: {record.getMessage()}"
        if record.exc_text:
            base += f" error={record.exc_text!r}"
        return f"{base} {fields}".rstrip()


def setup(level: str = "info", fmt: str = "text", stream: Any = None) -> None:
    """Configure the root logger once; every handler scrubs secrets."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ScrubFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's access log would print query strings, which may carry tokens.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # apscheduler logs every job run at info: thousands of lines a day that say nothing.
    logging.getLogger("apscheduler").setLevel(max(root.level, logging.WARNING))


def fields(**kwargs: Any) -> dict[str, Any]:
    """``logger.info("msg", extra=fields(target="db1"))``."""
    return {f"f_{k}": v for k, v in kwargs.items()}


class StateLog:
    """Log once per change of state, not once per failure: no spam while a DB is down."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._states: dict[str, str] = {}
        self._lock = threading.Lock()

    def update(self, key: str, state: str, message: str, level: int = logging.WARNING,
               **kw: Any) -> bool:
        """Record ``state`` for ``key``; log ``message`` only if the state changed."""
        with self._lock:
            if self._states.get(key) == state:
                return False
            previous = self._states.get(key)
            self._states[key] = state
        if previous is None and state == "ok":
            return False  # starting healthy is not news
        extra = fields(key=key, state=state, previous=previous, **kw)
        self._logger.log(level, message, extra=extra)
        return True
