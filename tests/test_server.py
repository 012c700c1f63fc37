"""The served process: reflection lists every service, health (Check and List) is SERVING,
/healthz answers."""

from __future__ import annotations

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
