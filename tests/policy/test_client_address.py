import pytest

from event_gateway.policy.client_address import (
    TrustedProxies,
    client_address,
    parse_ip,
    peer_host,
)


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("ipv4:1.2.3.4:5678", "1.2.3.4"),
        ("ipv6:[::1]:5678", "::1"),
        ("ipv6:%5B::1%5D:5678", "::1"),  # how grpc core spells it
        ("ipv6:[2001:db8:0:0::7]:443", "2001:db8::7"),
        ("ipv6:[::ffff:10.0.0.1]:80", "10.0.0.1"),  # one client, one identity
        ("unix:/run/gw.sock", "unix:/run/gw.sock"),
    ],
)
def test_peer_host(peer: str, host: str) -> None:
    assert peer_host(peer) == host


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("1.2.3.4", "1.2.3.4"), ("1.2.3.4:80", "1.2.3.4"), ("[::1]:80", "::1"), ("::1", "::1"),
     (" 2001:db8::1 ", "2001:db8::1"), ("fe80::1%eth0", "fe80::1"), ("unknown", None), ("", None)],
)  # fmt: skip
def test_parse_ip(text: str, parsed: str | None) -> None:
    address = parse_ip(text)
    assert (str(address) if address else None) == parsed


PROXIES = TrustedProxies(["10.0.0.0/8", "::1"])


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("ipv4:10.0.0.5:1", ["6.6.6.6"], TrustedProxies()) == "10.0.0.5"


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("ipv4:203.0.113.9:1", ["6.6.6.6"], PROXIES) == "203.0.113.9"


def test_trusted_peer_right_most_untrusted_hop_wins() -> None:
    # The client wrote "6.6.6.6" itself; the proxy appended the address it saw.
    assert client_address("ipv4:10.0.0.5:1", ["6.6.6.6, 198.51.100.7"], PROXIES) == "198.51.100.7"


def test_trusted_hops_are_skipped_right_to_left_across_repeated_headers() -> None:
    xff = ["6.6.6.6, 198.51.100.7", "10.1.1.1"]
    assert client_address("ipv6:[::1]:1", xff, PROXIES) == "198.51.100.7"


def test_all_hops_trusted_gives_the_left_most() -> None:
    assert client_address("ipv4:10.0.0.5:1", ["10.9.9.9, 10.1.1.1"], PROXIES) == "10.9.9.9"


def test_garbage_hop_stops_the_walk_at_the_nearest_known_hop() -> None:
    assert client_address("ipv4:10.0.0.5:1", ["1.1.1.1, nonsense, 10.1.1.1"], PROXIES) == "10.1.1.1"


def test_trusted_peer_without_forwarded_for_is_itself() -> None:
    assert client_address("ipv4:10.0.0.5:1", [], PROXIES) == "10.0.0.5"


def test_forwarded_entries_with_ports_and_mapped_addresses_are_normalised() -> None:
    assert client_address("ipv4:10.0.0.5:1", ["[::ffff:198.51.100.7]:5"], PROXIES) == "198.51.100.7"


def test_invalid_trusted_proxy_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="invalid trusted proxy"):
        TrustedProxies(["10.0.0.0/33"])
