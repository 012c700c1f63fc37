"""Hostile input never breaks the gateway: a clear 4xx, never a 5xx, never a hang.

After every case the server must still be healthy, and nothing from a rejected request
may have been stored.
"""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import new_database
from tests.e2e.harness import Gateway, count_events, create_key, create_tenant


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, str]]:
    directory = tmp_path_factory.mktemp("hostile")
    with new_database("sqlite", directory) as database:
        create_tenant(database, "acme", "acme-store", 1)
        key = create_key(database, "acme", "--limit", "per_key=1000000/minute", "--limit", "per_key_ip=1000000/minute")
        relaxed = '{"storefront": {"api": "1000000/minute", "tenant_aware": "1000000/minute"}}'
        gateway = Gateway(database, env={"EVENT_GATEWAY_THROTTLE__LIMITS": relaxed})
        gateway.start(directory)
        try:
            yield gateway, key
        finally:
            gateway.stop()


def gzip_bomb(size: int) -> bytes:
    return gzip.compress(b'{"events": [' + b" " * size + b"]}", compresslevel=9)


JSON = {"Content-Type": "application/json"}
CASES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("deep-nesting-array", "/api/v1/events", b"[" * 100_000 + b"]" * 100_000, JSON),
    ("deep-nesting-object", "/api/v1/events", b'{"events":' * 50_000 + b"1" + b"}" * 50_000, JSON),
    ("deep-metadata", "/api/v1/events", b'{"events":[{"eventType":"search","visitorId":"v","query":"q","metadata":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}]}", JSON),
    ("huge-integer", "/api/v1/interactions", b'{"tenant_id": 1' + b"0" * 5000 + b', "type": "view"}', JSON),
    ("huge-float", "/api/v1/events", b'{"events":[{"eventType":"purchase-complete","visitorId":"v","productIds":["p"],"revenue":1e999,"currency":"X"}]}', JSON),
    ("nan-literal", "/api/v1/events", b'{"events":[{"eventType":"purchase-complete","visitorId":"v","productIds":["p"],"revenue":NaN,"currency":"X"}]}', JSON),
    ("invalid-utf8", "/api/v1/events", b'{"events":[{"eventType":"search","visitorId":"\xff\xfe","query":"q"}]}', JSON),
    ("lone-surrogate", "/api/v1/events", b'{"events":[{"eventType":"search","visitorId":"\\ud800","query":"q"}]}', JSON),
    ("duplicate-keys", "/api/v1/events", b'{"events":[],"events":[{"eventType":"search","visitorId":"v","query":"q"}]}', JSON),
    ("not-json", "/api/v1/events", b"<xml/>", JSON),
    ("wrong-type-top", "/api/v1/events", b'"events"', JSON),
    ("array-for-object", "/api/v1/analytics/track", b"[]", JSON),
    ("null-body", "/api/v1/analytics/track", b"null", JSON),
    ("ten-megabytes", "/api/v1/events", b'{"events":[{"eventType":"search","visitorId":"' + b"v" * 10_000_000 + b'"}]}', JSON),
    ("gzip-bomb", "/api/v1/events", gzip_bomb(50_000_000), {**JSON, "Content-Encoding": "gzip"}),
    ("bad-gzip", "/api/v1/events", b"not gzip at all", {**JSON, "Content-Encoding": "gzip"}),
    ("unknown-encoding", "/api/v1/events", b"{}", {**JSON, "Content-Encoding": "br-zstd-nope"}),
    ("wrong-media-type", "/api/v1/events", b"a=1", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("int32-overflow", "/v2/events", b'{"clicks":[{"id":"x","occurredAt":"2019-01-01T00:00:00Z","opaqueUserId":"u","placement":{"path":"/","position":99999999999}}]}', JSON),
    ("timestamp-garbage", "/v2/events", b'{"clicks":[{"id":"x","occurredAt":"2019-13-45T99:99:99Z","opaqueUserId":"u"}]}', JSON),
]
PATHS = [
    "/api/v1/../v1/events",
    "/api/v1/%2e%2e/events",
    "/api/v1/events%00",
    "/api/v1/events/../../etc/passwd",
    "/%2F%2F%2F",
    "/create-events%2F..",
    "/" + "a/" * 2000,
    "/api/v1/%ZZevents",
    "/v2/events:verb",
]


ACCEPTED = {"duplicate-keys", "lone-surrogate"}


def assert_healthy(gateway: Gateway) -> None:
    assert httpx.get(f"{gateway.base_url}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize(("name", "path", "body", "headers"), CASES, ids=[c[0] for c in CASES])
def test_hostile_body_gets_a_clear_4xx(target: tuple[Gateway, str], name: str, path: str, body: bytes, headers: dict[str, str]) -> None:
    gateway, key = target
    before = count_events(gateway.database)
    response = httpx.post(
        f"{gateway.base_url}{path}",
        content=body,
        headers={**headers, "x-api-key": key, "Authorization": f"Bearer {key}"},
        timeout=60,
    )
    # Two are valid JSON a client may well send, and are stored: duplicate keys (the
    # last wins) and a lone surrogate escape (read as U+FFFD, as Go's encoding/json).
    assert 400 <= response.status_code < 500 or (name in ACCEPTED and response.status_code == 200), (
        response.status_code,
        response.text[:300],
    )
    assert len(response.content) < 100_000, "the error echoes the hostile input back"
    if response.status_code >= 400:
        assert count_events(gateway.database) == before
    assert_healthy(gateway)


@pytest.mark.parametrize("path", PATHS)
def test_path_tricks_are_4xx(target: tuple[Gateway, str], path: str) -> None:
    gateway, key = target
    with socket.create_connection(("127.0.0.1", gateway.http_port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nx-api-key: {key}\r\nConnection: close\r\n\r\n{{}}".encode())
        status_line = sock.makefile("rb").readline().decode()
    status = int(status_line.split()[1])
    assert 400 <= status < 500, status_line
    assert_healthy(gateway)


def _status_of_raw(gateway: Gateway, raw: bytes) -> str:
    """The status line answered to `raw`, or "closed" if the server hung up mid-send."""
    with socket.create_connection(("127.0.0.1", gateway.http_port), timeout=30) as sock:
        try:
            sock.sendall(raw)
            return sock.makefile("rb").readline().decode()
        except ConnectionError:
            return "closed"


@pytest.mark.parametrize(
    ("name", "raw", "status"),
    [
        ("many-fields", b"".join(b"x-h%d: v\r\n" % i for i in range(500)), 431),
        ("thousands-of-fields", b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 20) for i in range(5000)), 431),
        ("one-huge-field", b"x-big: " + b"a" * 200_000 + b"\r\n", 431),
    ],
)
def test_oversized_request_heads_are_refused_before_the_app(
    target: tuple[Gateway, str], name: str, raw: bytes, status: int
) -> None:
    gateway, key = target
    request = (
        b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nx-api-key: " + key.encode() + b"\r\n" + raw
        + b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    line = _status_of_raw(gateway, request)
    # The server may close while a client is still sending a huge head; if it read an
    # answer, it must be the refusal, never the app's 401 or a 5xx.
    assert line == "closed" or int(line.split()[1]) == status, line
    assert_healthy(gateway)


def test_overlong_request_target_is_414(target: tuple[Gateway, str]) -> None:
    gateway, _ = target
    line = _status_of_raw(gateway, b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert int(line.split()[1]) == 414, line
    assert_healthy(gateway)


def test_slow_client_does_not_block_others(target: tuple[Gateway, str]) -> None:
    gateway, key = target
    slow = socket.create_connection(("127.0.0.1", gateway.http_port), timeout=60)
    try:
        slow.sendall(f"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode())
        for byte in b'{"events": [':
            slow.sendall(bytes([byte]))
            # Meanwhile, ordinary requests are served.
            response = httpx.post(
                f"{gateway.base_url}/api/v1/events",
                json={"events": [{"eventType": "home-page-view", "visitorId": "v"}]},
                headers={"x-api-key": key},
                timeout=10,
            )
            assert response.status_code == 200
            time.sleep(0.2)
    finally:
        slow.close()
    assert_healthy(gateway)
