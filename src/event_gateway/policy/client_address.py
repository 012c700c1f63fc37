"""The client's address: the socket peer, or X-Forwarded-For from a trusted proxy.

Per-address limits are only as good as this answer. X-Forwarded-For is written by
whoever sent the request, and proxies such as grpc-gateway *append* the peer they saw,
so its left-most entries are whatever the client chose. It is therefore believed only
when the socket peer is a configured trusted proxy, and read right to left: each entry
was added by the hop to its right, and the first one not itself a trusted proxy is the
client (https://adam-p.ca/blog/2022/03/x-forwarded-for/).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """Addresses or CIDR ranges (``"10.0.0.0/8"``, ``"::1"``) whose X-Forwarded-For is believed."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"invalid trusted proxy {entry!r}: {exc}") from exc
        self._networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __contains__(self, address: IPAddress) -> bool:
        return any(address in network for network in self._networks)


def parse_ip(text: str) -> IPAddress | None:
    """An address from an X-Forwarded-For entry or a peer host; tolerates ports and brackets."""
    text = text.strip()
    if text.startswith("["):  # "[::1]:8080" or "[::1]"
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:  # "1.2.3.4:8080"; a bare IPv6 address has several colons
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.partition("%")[0])  # drop an IPv6 zone id
    except ValueError:
        return None
    # One client, one bucket: "::ffff:1.2.3.4" must not be a second identity for 1.2.3.4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# Pure in its argument; a loaded server sees the same few peers (one per connection) on
# every call, and parsing one costs microseconds of ipaddress work.
@functools.lru_cache(maxsize=4096)
def peer_host(peer: str) -> str:
    """The host of a gRPC peer string: ``"ipv4:1.2.3.4:5678"`` → ``"1.2.3.4"``.

    gRPC percent-encodes the IPv6 form (``"ipv6:%5B::1%5D:5678"``). A peer that is not
    an IP socket (``"unix:/run/gw.sock"``) is returned whole, so it still names one
    bucket.
    """
    peer = unquote(peer)
    scheme, _, rest = peer.partition(":")
    if scheme in ("ipv4", "ipv6"):
        address = parse_ip(rest)
        if address is not None:
            return str(address)
    return peer


def client_address(peer: str, forwarded_for: Sequence[str], trusted: TrustedProxies) -> str:
    """The client's address for this call.

    `forwarded_for` holds the X-Forwarded-For values in the order received (a request
    may carry the header more than once; the values are one list, comma-joined).
    """
    host = peer_host(peer)
    if not trusted or not forwarded_for:
        return host
    nearest = parse_ip(host)
    if nearest is None or nearest not in trusted:
        return host
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for entry in reversed(hops):
        address = parse_ip(entry)
        if address is None:
            # Garbage where a trusted proxy should have written an address: nothing to
            # its left can be believed, so the nearest known hop is the best answer.
            return str(nearest)
        if address not in trusted:
            return str(address)
        nearest = address
    # Every hop is a trusted proxy: the left-most one is as close to the client as we get.
    return str(nearest)
