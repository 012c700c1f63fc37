from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from alana.v1 import shopper_events_pb2 as alana_pb2

from .conftest import Gateway, GatewayFactory, rich_status, trailers

REQUEST = alana_pb2.TrackEventsRequest()


async def code_and_reason(gw: Gateway, metadata: list[tuple[str, str]]) -> tuple[grpc.StatusCode, str]:
    try:
        await gw.alana.TrackEvents(REQUEST, metadata=metadata)
    except grpc.aio.AioRpcError as err:
        info = error_details_pb2.ErrorInfo()
        for detail in rich_status(err).details:
            detail.Unpack(info)
        return err.code(), info.reason
    return grpc.StatusCode.OK, ""


async def test_refusals(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    good = gw.catalog.add()
    revoked = gw.catalog.add(revoked=True)
    scoped = gw.catalog.add(apis=frozenset({"depict"}))
    key_id = good.split("_")[1]
    U, P = grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED
    assert await code_and_reason(gw, []) == (U, "CREDENTIALS_MISSING")
    assert await code_and_reason(gw, [("x-api-key", "garbage")]) == (U, "CREDENTIALS_INVALID")
    assert await code_and_reason(gw, [("x-api-key", "egk_unknownid_secret")]) == (U, "CREDENTIALS_INVALID")
    assert await code_and_reason(gw, [("x-api-key", f"egk_{key_id}_wrong")]) == (U, "CREDENTIALS_INVALID")
    assert await code_and_reason(gw, [("x-api-key", revoked)]) == (U, "KEY_REVOKED")
    assert await code_and_reason(gw, [("x-api-key", scoped)]) == (P, "API_NOT_ALLOWED")
    assert await code_and_reason(gw, [("key", good)]) == (grpc.StatusCode.OK, "")
    assert not gw.calls.scopes[:-1]  # no refused call reached the servicer


async def test_failed_authentication_costs_no_quota(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(overrides={"alana": {"per_key_ip": "2/minute"}})
    good = gw.catalog.add()
    key_id = good.split("_")[1]
    for _ in range(5):
        code, _ = await code_and_reason(gw, [("x-api-key", f"egk_{key_id}_wrong")])
        assert code == grpc.StatusCode.UNAUTHENTICATED
    assert await code_and_reason(gw, [("x-api-key", good)]) == (grpc.StatusCode.OK, "")
    assert await code_and_reason(gw, [("x-api-key", good)]) == (grpc.StatusCode.OK, "")
    assert (await code_and_reason(gw, [("x-api-key", good)]))[0] == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_failures_are_limited_per_address(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(auth_failures="2/minute")
    good = gw.catalog.add()
    for _ in range(2):
        assert (await code_and_reason(gw, [("x-api-key", "egk_x_y")]))[0] == grpc.StatusCode.UNAUTHENTICATED
    lookups = gw.catalog.lookups
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gw.alana.TrackEvents(REQUEST, metadata=[("x-api-key", good)])
    err = raised.value
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in rich_status(err).details)
    assert retry.retry_delay.seconds == 30
    assert gw.catalog.lookups == lookups  # refused before looking anything up
    assert "x-ratelimit-limit" not in trailers(err)  # no tenant quota was involved
