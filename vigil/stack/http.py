"""Tiny blocking HTTP helpers for health checks and the stack's own API calls.

Only ``http://`` URLs that vigil builds itself pass through here, so the
usual warning about ``urlopen`` and ``file:`` URLs does not apply; the scheme
is still checked.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class HttpError(Exception):
    """A request failed: no answer, or a non-2xx status (``status`` is set then)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def request(url: str, *, method: str = "GET", body: Any = None,
            headers: dict[str, str] | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
    if not url.startswith("http://"):
        raise ValueError(f"only http:// URLs are allowed here, got {url!r}")
    data = None if body is None else json.dumps(body).encode()
    hdrs = dict(headers or {})
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)  # noqa: S310 (http only, checked above)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http only, checked above)
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        raise HttpError(f"{method} {url}: HTTP {exc.code}", exc.code) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HttpError(f"{method} {url}: {reason}") from None


def get_json(url: str, *, headers: dict[str, str] | None = None, timeout: float = 2.0) -> Any:
    _, raw = request(url, headers=headers, timeout=timeout)
    return json.loads(raw)


def post_json(url: str, body: Any, *, headers: dict[str, str] | None = None,
              timeout: float = 5.0) -> Any:
    _, raw = request(url, method="POST", body=body, headers=headers, timeout=timeout)
    return json.loads(raw) if raw.strip() else None


def is_healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        status, _ = request(url, timeout=timeout)
    except HttpError:
        return False
    return 200 <= status < 300
