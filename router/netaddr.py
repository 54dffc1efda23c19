"""Who is on the other end of a request when a reverse proxy stands in between.

Behind a proxy every request's socket peer is the proxy, so a per-address limit (the console's
failed logins, router/console/throttle.py) would count every client as one and the access log
would name only the proxy. ``trusted_proxies`` (router.yml, CIDRs) lists the proxies whose
``X-Forwarded-For`` is believed: the client is the rightmost address in the chain (the peer
last) that is not a trusted proxy. Anything left of it was written by the client and could say
anything, so it is never used; with no trusted proxies (the default) the header is ignored.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

from aiohttp import web, web_log

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


CLIENT = web.RequestKey("vigil_client", str)


@functools.lru_cache(maxsize=8)
def parse(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    """The networks, or ValueError naming the entry (``trusted_proxies[1]``) at fault."""
    out = []
    for i, text in enumerate(cidrs):
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies[{i}]: expected an address or a CIDR network "
                             "such as 10.0.0.0/8") from None
    return tuple(out)


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client(peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]
           ) -> str | None:
    """The client's address: ``peer`` unless it is a trusted proxy, else the rightmost
    X-Forwarded-For entry (``forwarded_for``: every header line, in order) that is not a
    trusted proxy. An entry that is not an address stops the walk at the last trusted hop:
    a proxy that wrote garbage is counted as the client rather than believed."""
    here = _address(peer) if peer else None
    if here is None or not trusted or not _trusted(here, trusted):
        return peer
    hops = [hop for line in forwarded_for for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return str(here)
        if not _trusted(address, trusted):
            return str(address)
        here = address
    return str(here)   # every hop a trusted proxy: the one furthest out


def _trusted(address: Address, trusted: tuple[Network, ...]) -> bool:
    return any(address in net for net in trusted)


def resolve(request: web.Request, trusted: tuple[Network, ...]) -> web.Request:
    """The request the handlers see: through a trusted proxy, its ``remote`` is the client
    (so the console's per-address login limit counts clients, not the proxy), also kept on
    the original request for the access log (``AccessLogger``)."""
    if not trusted:
        return request
    who = client(request.remote, request.headers.getall("X-Forwarded-For", []), trusted)
    if who is None or who == request.remote:
        return request
    request[CLIENT] = who
    return request.clone(remote=who)


class _Forwarded:
    """A request as the access log reads it, with the client's address as ``remote``."""

    def __init__(self, request: web.BaseRequest, remote: str) -> None:
        self._request, self.remote = request, remote

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


class AccessLogger(web_log.AccessLogger):
    """aiohttp's access log with ``%a`` the client ``resolve`` found behind a trusted proxy;
    pass it as ``access_log_class`` wherever the router is served with an access log."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float
            ) -> None:
        if request is not None and CLIENT in request:
            request = _Forwarded(request, request[CLIENT])  # type: ignore[assignment]
        super().log(request, response, time)
