"""The one blocking HTTP client for vigil's own calls: health checks, the stack, the alert CLI,
and the test support that talks to Prometheus and Alertmanager.

Only ``http://`` and ``https://`` URLs pass (never ``file:``), so the usual warning about
``urlopen`` does not apply. The async services (exporter, router) use aiohttp instead.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any


class HttpError(OSError):
    """A request failed: no answer (``status`` None), or a non-2xx answer (``status`` and
    ``body`` set). An OSError, because a failed exchange is an I/O error to its callers."""

    def __init__(self, message: str, status: int | None = None, body: bytes = b"",
                 reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.reason = reason


def request(url: str, *, method: str = "GET", body: Any = None,
            headers: Mapping[str, str] | None = None, timeout: float = 2.0,
            check: bool = True) -> tuple[int, bytes]:
    """Send ``body`` (as JSON when given); returns (status, raw body).

    ``check=False`` returns a non-2xx answer instead of raising; no answer always raises.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"only http:// or https:// URLs are allowed here, got {url!r}")
    data = None if body is None else json.dumps(body).encode()
    hdrs = dict(headers or {})
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)  # noqa: S310 (scheme checked above)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (scheme checked above)
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        raw = bytes(exc.read())
        if not check:
            return int(exc.code), raw
        raise HttpError(f"{method} {url}: HTTP {exc.code}", exc.code, raw,
                        str(exc.reason)) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = str(getattr(exc, "reason", exc))
        raise HttpError(f"{method} {url}: {reason}", reason=reason) from None


def get_json(url: str, *, headers: Mapping[str, str] | None = None,
             timeout: float = 2.0) -> Any:
    _, raw = request(url, headers=headers, timeout=timeout)
    return json.loads(raw)


def post_json(url: str, body: Any, *, headers: Mapping[str, str] | None = None,
              timeout: float = 5.0) -> Any:
    _, raw = request(url, method="POST", body=body, headers=headers, timeout=timeout)
    return json.loads(raw) if raw.strip() else None


def is_healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        status, _ = request(url, timeout=timeout)
    except HttpError:
        return False
    return 200 <= status < 300
