"""router/netaddr.py: the client behind trusted proxies is the rightmost X-Forwarded-For
address that is not one of them; an untrusted peer's header is never believed."""

from __future__ import annotations

from router.netaddr import client, parse

PROXIES = parse(("10.0.0.0/8", "2001:db8::/32"))


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() -> None:
    assert client("10.1.1.1", ["203.0.113.7"], ()) == "10.1.1.1"


def test_an_untrusted_peer_can_not_claim_another_address() -> None:
    assert client("198.51.100.2", ["203.0.113.7"], PROXIES) == "198.51.100.2"


def test_the_rightmost_untrusted_hop_is_the_client_not_what_the_client_wrote() -> None:
    # The client sent "1.2.3.4" itself; the first proxy appended the client's real address.
    assert client("10.0.0.5", ["1.2.3.4, 203.0.113.7", "10.0.0.9"], PROXIES) == "203.0.113.7"
    assert client("2001:db8::1", ["2001:db8::2, 2001:db9::7"], PROXIES) == "2001:db9::7"


def test_garbage_stops_at_the_last_trusted_hop_and_all_trusted_means_the_furthest() -> None:
    assert client("10.0.0.5", ["203.0.113.7, not-an-ip"], PROXIES) == "10.0.0.5"
    assert client("10.0.0.5", ["10.0.0.7"], PROXIES) == "10.0.0.7"
    assert client("10.0.0.5", [], PROXIES) == "10.0.0.5"
