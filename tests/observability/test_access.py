"""The access interceptor over both transports: a real grpc.aio server and the
transcoder's in-process dispatcher, with the real scope and errors interceptors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2  # noqa: F401  (storefront imports Struct)
from storefront.v1 import analytics_pb2, analytics_pb2_grpc

from event_gateway import errors
from event_gateway.contract import default_contract
from event_gateway.interceptors.errors import ErrorInterceptor
from event_gateway.interceptors.scope import ScopeInterceptor
from event_gateway.observability.access import TRANSPORT_METADATA, AccessInterceptor
from event_gateway.observability.events import CountingWriter
from event_gateway.observability.metrics import Metrics
from event_gateway.storage.base import EventRecord, RejectedRecord, WriteResult
from event_gateway.transcoding.dispatch import InProcessDispatcher

TRACK = "/storefront.v1.StorefrontAnalyticsService/Track"
CONVERSION = "/storefront.v1.StorefrontAnalyticsService/Conversion"


class _Store:
    async def write(self, events: Any, rejected: Any = ()) -> WriteResult:
        keyed = [e for e in events if e.dedup_key]
        return WriteResult(stored=len(events) - len(keyed) // 2, duplicates=len(keyed) // 2)


class Servicer(analytics_pb2_grpc.StorefrontAnalyticsServiceServicer):
    def __init__(self, writer: CountingWriter) -> None:
        self.writer = writer

    async def Track(self, request: Any, context: Any) -> Any:
        if request.tenant_id == "nokey":
            raise errors.Unauthenticated("no key", reason="CREDENTIALS_MISSING")
        if request.tenant_id == "busy":
            raise errors.ResourceExhausted(
                "slow down", retry_after=1, quota_violations=[("storefront:api", "60/min")]
            )
        if request.tenant_id == "full":
            raise errors.ResourceExhausted("queue full", reason="QUEUE_FULL", retry_after=1)
        if request.tenant_id == "boom":
            raise RuntimeError("bug")
        record = EventRecord("storefront", "t", "cart_add", _now(), {})
        keyed = EventRecord("storefront", "t", "cart_add", _now(), {}, dedup_key="d")
        bad = RejectedRecord("storefront", "t", "invalid", _now(), {})
        await self.writer.write([record, keyed, keyed], [bad])
        return analytics_pb2.TrackResponse(success=True)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics.create()


def _chain(metrics: Metrics) -> list[grpc.aio.ServerInterceptor]:
    contract = default_contract()
    return [ScopeInterceptor(contract), AccessInterceptor(contract, metrics), ErrorInterceptor()]


@pytest.fixture
async def grpc_stub(metrics: Metrics) -> AsyncIterator[Any]:
    server = grpc.aio.server(interceptors=_chain(metrics))
    analytics_pb2_grpc.add_StorefrontAnalyticsServiceServicer_to_server(
        Servicer(CountingWriter(_Store(), metrics)), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield analytics_pb2_grpc.StorefrontAnalyticsServiceStub(channel)
    await server.stop(None)


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def _counted(metrics: Metrics, name: str, **labels: str) -> float:
    """The sample once it is non-zero (or 0 after 2 s). grpc.aio's context.abort sends the
    status before it raises, so a client can see a refusal just before the server's
    access interceptor, further out, has counted it."""
    for _ in range(200):
        value = _value(metrics, name, **labels)
        if value:
            return value
        await asyncio.sleep(0.01)
    return 0.0


def _req(tenant: str) -> Any:
    return analytics_pb2.TrackRequest(tenant_id=tenant, type=analytics_pb2.INTERACTION_TYPE_CALL)


async def test_grpc_success_counts_the_call_its_events_and_logs_one_line(
    grpc_stub: Any, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="event_gateway.access"):
        await grpc_stub.Track(_req("ok"), metadata=[("x-api-key", "secret-value")])
    labels = dict(api="storefront", method="Track", transport="grpc", outcome="OK")
    assert _value(metrics, "event_gateway_requests_total", **labels) == 1
    assert _value(metrics, "event_gateway_request_duration_seconds_count",
                  api="storefront", method="Track", transport="grpc") == 1
    assert _value(metrics, "event_gateway_events_total",
                  api="storefront", type="cart_add", outcome="stored") == 2
    assert _value(metrics, "event_gateway_events_total",
                  api="storefront", type="cart_add", outcome="duplicate") == 1
    assert _value(metrics, "event_gateway_events_total",
                  api="storefront", type="unknown", outcome="rejected") == 1
    [record] = [r for r in caplog.records if r.name == "event_gateway.access"]
    access = record.access  # type: ignore[attr-defined]
    assert access["api"] == "storefront" and access["method"] == "Track"
    assert access["transport"] == "grpc" and access["code"] == "OK"
    assert access["client_ip"] == "127.0.0.1"
    assert (access["stored"], access["duplicates"], access["rejected"]) == (2, 1, 1)
    assert access["ms"] >= 0
    assert "secret-value" not in caplog.text


@pytest.mark.parametrize(
    ("tenant", "code"),
    [("nokey", "UNAUTHENTICATED"), ("busy", "RESOURCE_EXHAUSTED"), ("boom", "UNKNOWN"),
     ("full", "RESOURCE_EXHAUSTED")],
)
async def test_grpc_refusals_are_counted_by_code_and_reason(
    grpc_stub: Any, metrics: Metrics, tenant: str, code: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await grpc_stub.Track(_req(tenant))
    outcome = "INTERNAL" if tenant == "boom" else code
    assert await _counted(metrics, "event_gateway_requests_total", api="storefront",
                          method="Track", transport="grpc", outcome=outcome) == 1
    auth = _value(metrics, "event_gateway_auth_failures_total",
                  api="storefront", reason="CREDENTIALS_MISSING")
    denied = _value(metrics, "event_gateway_throttle_denials_total", api="storefront", limit="api")
    assert auth == (1 if tenant == "nokey" else 0)
    # A full write queue is back-pressure, not a rate limit.
    assert denied == (1 if tenant == "busy" else 0)


async def test_rest_calls_through_the_in_process_dispatcher_are_labelled_rest(
    metrics: Metrics,
) -> None:
    dispatcher = InProcessDispatcher(interceptors=_chain(metrics))
    analytics_pb2_grpc.add_StorefrontAnalyticsServiceServicer_to_server(
        Servicer(CountingWriter(_Store(), metrics)), dispatcher
    )
    outcome = await dispatcher.call(TRACK, _req("ok"), (), "ipv4:10.0.0.7:5000")
    assert outcome.status is None
    refused = await dispatcher.call(TRACK, _req("busy"), (), "ipv4:10.0.0.7:5000")
    assert refused.status is not None
    assert _value(metrics, "event_gateway_requests_total", api="storefront", method="Track",
                  transport="rest", outcome="OK") == 1
    assert _value(metrics, "event_gateway_requests_total", api="storefront", method="Track",
                  transport="rest", outcome="RESOURCE_EXHAUSTED") == 1
    assert _value(metrics, "event_gateway_throttle_denials_total",
                  api="storefront", limit="api") == 1


async def test_a_remote_transcoder_can_label_its_calls_rest(grpc_stub: Any, metrics: Metrics) -> None:
    await grpc_stub.Track(_req("ok"), metadata=[(TRANSPORT_METADATA, "rest")])
    assert _value(metrics, "event_gateway_requests_total", api="storefront", method="Track",
                  transport="rest", outcome="OK") == 1


async def test_calls_outside_the_contract_are_not_observed(metrics: Metrics) -> None:
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.aio.server(interceptors=_chain(metrics))
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    await server.stop(None)
    assert b"event_gateway_requests_total{" not in (await metrics.render())[0]
