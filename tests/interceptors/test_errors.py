from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from alana.v1 import shopper_events_pb2 as alana_pb2
from event_gateway import errors

from .conftest import GatewayFactory, rich_status, trailers


async def call_with(make_gateway: GatewayFactory, action: Any) -> grpc.aio.AioRpcError:
    gw = await make_gateway()
    gw.calls.action = action
    key = gw.catalog.add()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gw.alana.TrackEvents(alana_pb2.TrackEventsRequest(), metadata=[("x-api-key", key)])
    return raised.value


async def test_gateway_error_becomes_its_code_with_rich_details(make_gateway: GatewayFactory) -> None:
    def fail(context: Any) -> None:
        raise errors.InvalidArgument(
            "Bad events.", [errors.FieldViolation("events[0].visitorId", "required", "missing")]
        )

    err = await call_with(make_gateway, fail)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and err.details() == "Bad events."
    status = rich_status(err)
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "events[0].visitorId"


async def test_unexpected_exception_is_internal_and_says_nothing(
    make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def crash(context: Any) -> None:
        raise RuntimeError("password=hunter2 at db.internal:5432")

    with caplog.at_level(logging.ERROR, logger="event_gateway.interceptors.errors"):
        err = await call_with(make_gateway, crash)
    assert err.code() == grpc.StatusCode.INTERNAL
    assert "hunter2" not in (err.details() or "") and "hunter2" not in str(rich_status(err))
    assert any(r.exc_info and "hunter2" in str(r.exc_info[1]) for r in caplog.records)


async def test_a_servicers_own_abort_passes_through(make_gateway: GatewayFactory) -> None:
    async def abort(context: Any) -> None:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "own words")

    err = await call_with(make_gateway, abort)
    assert (err.code(), err.details()) == (grpc.StatusCode.FAILED_PRECONDITION, "own words")


async def test_trailing_metadata_set_before_the_error_survives(make_gateway: GatewayFactory) -> None:
    def fail(context: Any) -> None:
        raise errors.Unavailable("Store down.", retry_after=2.0)

    err = await call_with(make_gateway, fail)
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    # The throttle interceptor's state was set before the servicer failed.
    assert "x-ratelimit-remaining" in trailers(err)
