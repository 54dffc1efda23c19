"""Who is on the other end of a request when a reverse proxy stands in between.

Behind a proxy every request's socket peer is the proxy, so a per-address limit (the console's
failed logins, router/console/throttle.py) would count every client as one and the access log
would name only the proxy. ``trusted_proxies`` (router.yml, CIDRs) lists the proxies whose
``X-Forwarded-For`` is believed: the client is the rightmost address in the chain (the peer
last) that is not a trusted proxy. Anything left of it was written by the client and could say
anything, so it is never used; with no trusted proxies (the default) the header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse(cidrs: Iterable[str]) -> tuple[Network, ...]:
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
