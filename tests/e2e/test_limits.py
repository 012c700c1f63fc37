"""Rate limits end to end: one bucket for both transports, shared across gateways via Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from alana.v1 import shopper_events_pb2 as pb
from alana.v1 import shopper_events_pb2_grpc as pb_grpc
from tests.e2e.conftest import new_database
from tests.e2e.grpc_client import channel, rich_details
from tests.e2e.harness import Gateway, create_key, create_tenant

BODY = {"events": [{"eventType": "home-page-view", "visitorId": "v"}]}


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[str]:
    with new_database("sqlite", tmp_path) as database:
        create_tenant(database, "acme", "acme-store", 1)
        yield database


async def grpc_track(gateway: Gateway, key: str) -> grpc.aio.AioRpcError | None:
    async with channel(gateway.grpc_target) as ch:
        try:
            await pb_grpc.ShopperEventsServiceStub(ch).TrackEvents(
                pb.TrackEventsRequest(events=[pb.Event(event_type=pb.EVENT_TYPE_HOME_PAGE_VIEW, visitor_id="v")]),
                metadata=(("x-api-key", key),),
            )
        except grpc.aio.AioRpcError as error:
            return error
    return None


async def test_rest_and_grpc_share_one_bucket_and_answer_alike(sqlite_db: str, tmp_path: Path) -> None:
    key = create_key(sqlite_db, "acme", "--limit", "per_key=4/minute")
    gateway = Gateway(sqlite_db)
    gateway.start(tmp_path)
    try:
        url = f"{gateway.base_url}/api/v1/events"
        first = httpx.post(url, json=BODY, headers={"x-api-key": key})
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit"] == "4"
        assert first.headers["x-ratelimit-remaining"] == "3"
        assert "ratelimit" in first.headers and "ratelimit-policy" in first.headers
        assert await grpc_track(gateway, key) is None
        assert httpx.post(url, json=BODY, headers={"x-api-key": key}).status_code == 200
        assert await grpc_track(gateway, key) is None
        # The bucket (4/minute) is spent, by REST and gRPC together.
        denied = httpx.post(url, json=BODY, headers={"x-api-key": key})
        assert denied.status_code == 429
        assert int(denied.headers["retry-after"]) >= 1
        assert denied.headers["x-ratelimit-remaining"] == "0"
        assert denied.json()["status"] == "error"
        error = await grpc_track(gateway, key)
        assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        kinds = {type(d).__name__ for d in rich_details(error)}
        assert {"RetryInfo", "QuotaFailure"} <= kinds
    finally:
        gateway.stop()


@pytest.mark.parametrize(
    ("path", "credentials", "malformed"),
    [
        ("/api/v1/events", "header", b'{"events": ['),
        ("/create-events", "query", b"[{"),
        ("/v2/events", "bearer", b'{"clicks": 5}'),
    ],
)
def test_malformed_bodies_are_authenticated_and_spend_the_limit(
    sqlite_db: str, tmp_path: Path, path: str, credentials: str, malformed: bytes
) -> None:
    # REST calls pass through the same chain as gRPC ones, refused ones too: a body the
    # transcoder cannot read is still authenticated and counted (before 2026-12-03 it
    # was answered before the chain, so malformed requests were never limited).
    key = create_key(sqlite_db, "acme", "--limit", "per_key=3/minute")
    gateway = Gateway(sqlite_db)
    gateway.start(tmp_path)

    def send(body: bytes, key: str | None = key) -> httpx.Response:
        headers = {"content-type": "application/json"}
        params = {}
        if key is not None and credentials == "header":
            headers["x-api-key"] = key
        elif key is not None and credentials == "bearer":
            headers["authorization"] = f"Bearer {key}"
        elif key is not None:
            params["api_key"] = key
        return httpx.post(f"{gateway.base_url}{path}", content=body, headers=headers, params=params)

    try:
        refused = [send(malformed) for _ in range(3)]
        assert [r.status_code for r in refused] in ([400] * 3, [422] * 3)
        assert [r.headers["x-ratelimit-remaining"] for r in refused] == ["2", "1", "0"]
        # The key's budget is spent: even a good request is now throttled.
        assert send(b"{}" if path != "/create-events" else b"[]").status_code == 429
        # Without a key, a malformed body is refused for the key first.
        assert send(malformed, key=None).status_code in (401, 422)
    finally:
        gateway.stop()


async def test_failed_authentications_spend_no_tenant_quota(sqlite_db: str, tmp_path: Path) -> None:
    key = create_key(sqlite_db, "acme", "--limit", "per_key=2/minute")
    key_id = key.split("_")[1]
    gateway = Gateway(sqlite_db)
    gateway.start(tmp_path)
    try:
        url = f"{gateway.base_url}/api/v1/events"
        for _ in range(5):  # the right key id with a wrong secret
            assert httpx.post(url, json=BODY, headers={"x-api-key": f"egk_{key_id}_wrong"}).status_code == 401
        assert httpx.post(url, json=BODY, headers={"x-api-key": key}).status_code == 200
        assert httpx.post(url, json=BODY, headers={"x-api-key": key}).status_code == 200
    finally:
        gateway.stop()


def test_spoofed_forwarded_for_cannot_escape_a_per_address_limit(sqlite_db: str, tmp_path: Path) -> None:
    gateway = Gateway(sqlite_db, env={"EVENT_GATEWAY_THROTTLE__LIMITS": '{"storefront": {"api": "3/minute"}}'})
    gateway.start(tmp_path)
    try:
        statuses = [
            httpx.post(
                f"{gateway.base_url}/api/v1/analytics/track",
                json={"tenant_id": "acme", "type": "call"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            for i in range(5)
        ]
        assert [r.status_code for r in statuses] == [202, 202, 202, 429, 429]
        assert statuses[-1].json() == {"message": "Too Many Attempts."}
        assert int(statuses[-1].headers["retry-after"]) >= 1
    finally:
        gateway.stop()


def test_storefront_429_carries_laravels_x_ratelimit_reset(sqlite_db: str, tmp_path: Path) -> None:
    # Laravel's ThrottleRequests sends X-RateLimit-Reset (now + Retry-After) on a 429.
    gateway = Gateway(sqlite_db, env={"EVENT_GATEWAY_THROTTLE__LIMITS": '{"storefront": {"api": "1/minute"}}'})
    gateway.start(tmp_path)
    try:
        url = f"{gateway.base_url}/api/v1/analytics/track"
        allowed = httpx.post(url, json={"tenant_id": "acme", "type": "call"})
        before = int(time.time())
        denied = httpx.post(url, json={"tenant_id": "acme", "type": "call"})
        assert (allowed.status_code, denied.status_code) == (202, 429)
        assert "x-ratelimit-reset" not in allowed.headers
        retry_after = int(denied.headers["retry-after"])
        assert before + retry_after <= int(denied.headers["x-ratelimit-reset"]) <= int(time.time()) + retry_after
        assert (denied.headers["x-ratelimit-limit"], denied.headers["x-ratelimit-remaining"]) == ("1", "0")
    finally:
        gateway.stop()


async def test_two_gateways_share_one_limit_through_redis(
    sqlite_db: str, redis_url: str, redis_client: object, tmp_path: Path
) -> None:
    key = create_key(sqlite_db, "acme", "--limit", "per_key=10/minute")
    env = {"EVENT_GATEWAY_REDIS_URL": redis_url}
    first, second = Gateway(sqlite_db, env=env), Gateway(sqlite_db, env=env)
    first.start(tmp_path)
    second.start(tmp_path)
    try:
        async with httpx.AsyncClient(timeout=30) as client:

            async def send(gateway: Gateway) -> int:
                response = await client.post(
                    f"{gateway.base_url}/api/v1/events", json=BODY, headers={"x-api-key": key}
                )
                return response.status_code

            statuses = await asyncio.gather(*(send(first if i % 2 else second) for i in range(30)))
        assert statuses.count(200) == 10
        assert statuses.count(429) == 20
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize(("fail_open", "ready", "answer"), [("true", 200, 200), ("false", 503, 503)])
def test_an_unreachable_redis_is_unready_only_when_failing_closed(
    sqlite_db: str, tmp_path: Path, fail_open: str, ready: int, answer: int
) -> None:
    key = create_key(sqlite_db, "acme")
    # Port 9 (discard) on loopback: nothing listens, so every Redis call fails at once.
    env = {"EVENT_GATEWAY_REDIS_URL": "redis://127.0.0.1:9/0", "EVENT_GATEWAY_THROTTLE__FAIL_OPEN": fail_open}
    gateway = Gateway(sqlite_db, env=env)
    gateway.start(tmp_path)
    try:
        assert httpx.get(f"{gateway.base_url}/readyz", timeout=30).status_code == ready
        response = httpx.post(f"{gateway.base_url}/api/v1/events", json=BODY, headers={"x-api-key": key}, timeout=30)
        assert response.status_code == answer
    finally:
        gateway.stop()
