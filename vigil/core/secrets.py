"""Keep passwords out of logs, exceptions and metrics.

Two layers: ``redact_dsn`` makes a DSN safe to show, and a process-wide
registry of secret values feeds ``scrub`` and the logging filter, which
replace any registered value wherever it turns up (a psycopg error that
echoes part of a malformed DSN, say).
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()

# key=value DSNs: password may be quoted ('a b\'c') or bare.
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)", re.IGNORECASE)
# URI userinfo: scheme://user:password@host
_URI_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s]*)(@)", re.IGNORECASE)
# password passed as a URI query parameter (?password=...)
_URI_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&\s]*)", re.IGNORECASE)


def register(value: str | None) -> None:
    """Remember a secret so ``scrub`` and the log filter can mask it anywhere."""
    if value and len(value) >= 3:
        with _lock:
            _secrets.add(value)


def dsn_password(dsn: str) -> str | None:
    """Best-effort extraction of the password from a URI or key=value DSN."""
    if "://" in dsn:
        try:
            parts = urlsplit(dsn)
            if parts.password:
                return parts.password
        except ValueError:
            pass
        m = _URI_QUERY_PASSWORD.search(dsn)
        if m:
            return m.group(2)
        m = _URI_USERINFO.search(dsn)
        return m.group(2) if m else None
    m = _KV_PASSWORD.search(dsn)
    if not m:
        return None
    raw = m.group(2)
    if raw.startswith("'"):
        raw = raw[1:-1] if raw.endswith("'") and len(raw) > 1 else raw[1:]
        raw = raw.replace("\\'", "'").replace("\\\\", "\\")
    return raw


def register_dsn(dsn: str) -> None:
    register(dsn_password(dsn))


def redact_dsn(dsn: str) -> str:
    """Return the DSN with its password masked; never raises."""
    out = _URI_USERINFO.sub(lambda m: m.group(1) + MASK + m.group(3), dsn)
    out = _URI_QUERY_PASSWORD.sub(lambda m: m.group(1) + MASK, out)
    out = _KV_PASSWORD.sub(lambda m: m.group(1) + MASK, out)
    if "://" in out:
        try:
            parts = urlsplit(out)
            if parts.password and parts.password != MASK:
                netloc = parts.netloc.replace(parts.password, MASK)
                out = urlunsplit(parts._replace(netloc=netloc))
        except ValueError:
            pass
    return scrub(out)


def scrub(text: str) -> str:
    """Mask every registered secret and any password-shaped DSN fragment in ``text``."""
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    text = _URI_USERINFO.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    text = _URI_QUERY_PASSWORD.sub(lambda m: m.group(1) + MASK, text)
    return _KV_PASSWORD.sub(lambda m: m.group(1) + MASK, text)


class ScrubFilter(logging.Filter):
    """Logging filter that masks secrets in the rendered message and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format must not kill logging
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.exc_text = scrub(f"{type(exc).__name__}: {exc}")
            record.exc_info = None
        for key, value in list(record.__dict__.items()):
            if key.startswith("f_") and isinstance(value, str):
                record.__dict__[key] = scrub(value)
        return True
