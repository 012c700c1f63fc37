from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from alana.v1 import shopper_events_pb2 as alana_pb2

from .conftest import GatewayFactory, rich_status, trailers

REQUEST = alana_pb2.TrackEventsRequest()


async def test_success_carries_rate_limit_trailers(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(overrides={"alana": {"per_key_ip": "3/minute"}})
    key = gw.catalog.add()
    call = gw.alana.TrackEvents(REQUEST, metadata=[("x-api-key", key)])
    assert (await call).status == "ok"
    meta = dict(await call.trailing_metadata())
    assert meta["x-ratelimit-limit"] == "3" and meta["x-ratelimit-remaining"] == "2"
    assert meta["ratelimit-policy"] == '"per_key";q=1000;w=60, "per_key_ip";q=3;w=60'
    assert meta["ratelimit"] == '"per_key";r=999;t=60, "per_key_ip";r=2;t=60'
    assert "retry-after" not in meta


async def test_denial_is_resource_exhausted_with_retry_and_quota_details(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(overrides={"alana": {"per_key_ip": "2/minute"}})
    key = gw.catalog.add()
    for _ in range(2):
        await gw.alana.TrackEvents(REQUEST, metadata=[("x-api-key", key)])
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gw.alana.TrackEvents(REQUEST, metadata=[("x-api-key", key)])
    err = raised.value
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = rich_status(err).details
    retry, quota, info = (
        error_details_pb2.RetryInfo(), error_details_pb2.QuotaFailure(), error_details_pb2.ErrorInfo(),
    )  # fmt: skip
    assert [d.Unpack(m) for d, m in zip(details, (info, retry, quota))] == [True, True, True]
    assert info.reason == "RATE_LIMITED"
    assert 59 <= retry.retry_delay.seconds <= 60  # when the window ends
    assert [(v.subject, v.description) for v in quota.violations] == [
        ("alana:per_key_ip", "2 requests per 60s per key and client address")
    ]
    meta = trailers(err)
    assert meta["retry-after"] == "60"
    assert meta["x-ratelimit-remaining"] == "0" and meta["x-ratelimit-limit"] == "2"
    assert len(gw.calls.scopes) == 2  # the denied call never reached the servicer


async def test_keys_have_separate_buckets(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(overrides={"alana": {"per_key": "1/minute"}})
    first, second = gw.catalog.add(), gw.catalog.add()
    await gw.alana.TrackEvents(REQUEST, metadata=[("x-api-key", first)])
    await gw.alana.TrackEvents(REQUEST, metadata=[("x-api-key", second)])
    with pytest.raises(grpc.aio.AioRpcError):
        await gw.alana.TrackEvents(REQUEST, metadata=[("x-api-key", first)])


async def test_per_key_override_from_the_key_record(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    key = gw.catalog.add(limits={"per_key": "1/minute"})
    await gw.alana.TrackEvents(REQUEST, metadata=[("x-api-key", key)])
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gw.alana.TrackEvents(REQUEST, metadata=[("x-api-key", key)])
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_servicer_trailers_do_not_drop_the_rate_limit_state(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    gw.calls.action = lambda context: context.set_trailing_metadata((("x-http-code", "202"),))
    call = gw.alana.TrackEvents(REQUEST, metadata=[("x-api-key", gw.catalog.add())])
    await call
    meta = dict(await call.trailing_metadata())
    assert meta["x-http-code"] == "202" and "x-ratelimit-remaining" in meta
