"""Listen addresses (``host:port``, ``[v6]:port``, ``:port`` for all interfaces): the one
parser behind the exporter's and the router's ``--web.listen-address`` and config keys."""

from __future__ import annotations

from vigil.core.errors import ConfigError


def problem(address: str) -> str | None:
    """Why ``address`` is not a listen address, or None."""
    _, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        return f"expected host:port or :port, got {address!r}"
    return None


def parse(address: str, source: str = "--web.listen-address") -> tuple[str, int]:
    """``address`` -> (host, port); a ConfigError naming ``source`` if it is malformed."""
    if (why := problem(address)) is not None:
        raise ConfigError(source, [("", why)])
    host, _, port = address.rpartition(":")
    return (host.strip("[]") or "0.0.0.0"), int(port)  # noqa: S104 - ":port" means all interfaces
