"""The served process: reflection lists every service, health (Check and List) is SERVING,
/healthz answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.e2e.harness import running_gateway

API_SERVICES = {
    "alana.v1.ShopperEventsService",
    "storefront.v1.StorefrontAnalyticsService",
    "depict.v1.DepictEventsService",
    "topsort.v2.TopsortEventsService",
}


async def test_reflection_health_and_healthz(tmp_path: Path) -> None:
    with running_gateway(f"sqlite:///{tmp_path / 'events.db'}", tmp_path) as gateway:
        assert httpx.get(f"{gateway.base_url}/healthz").status_code == 200
        assert httpx.get(f"{gateway.base_url}/readyz").status_code == 200
        async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            responses = [r async for r in stub.ServerReflectionInfo(iter([request]))]
            listed = {s.name for s in responses[0].list_services_response.service}
            assert API_SERVICES | {"grpc.health.v1.Health"} <= listed

            health = health_pb2_grpc.HealthStub(channel)
            for service in ["", *API_SERVICES]:
                answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
            listing = await health.List(health_pb2.HealthListRequest())
            assert {name: s.status for name, s in listing.statuses.items()} == {
                name: health_pb2.HealthCheckResponse.SERVING for name in ["", *API_SERVICES]
            }
        assert gateway.stop() == 0  # SIGTERM: a clean, drained exit


async def test_a_client_pinging_every_few_seconds_between_calls_keeps_its_connection(tmp_path: Path) -> None:
    # grpc-core's server defaults allow no keepalive ping between calls more often than
    # every 5 minutes: a client pinging every 30 s while idle (a common setting) was
    # sent GOAWAY "too_many_pings", and the call that met it failed UNAVAILABLE. Here
    # every 6 s, the pings not throttled client-side, so the defaults strike at ~18 s.
    pinging = [
        ("grpc.keepalive_time_ms", 6_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    with running_gateway(f"sqlite:///{tmp_path / 'events.db'}", tmp_path) as gateway:
        async with grpc.aio.insecure_channel(gateway.grpc_target, options=pinging) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            for _ in range(26):  # 26 s idle: pings at 6, 12, 18 and 24 s
                await asyncio.sleep(1)
                assert channel.get_state() == grpc.ChannelConnectivity.READY
            await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
