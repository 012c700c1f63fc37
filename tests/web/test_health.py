"""The gRPC health servicer over a real socket: a Watch ends once shutdown begins."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from event_gateway.web.health import HealthServicer, set_not_serving, set_serving

SERVICE = "alana.v1.ShopperEventsService"


async def test_a_watch_says_not_serving_and_ends_when_shutdown_begins() -> None:
    # An open Watch is an RPC in flight: it used to hold the drain for the whole of
    # shutdown_grace. Now it ends, OK, right after it has said NOT_SERVING.
    servicer = HealthServicer()
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await set_serving(servicer, [SERVICE])
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=SERVICE))
            first = await watch.read()
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            await set_not_serving(servicer, [SERVICE])
            rest = []
            async with asyncio.timeout(10):  # the server is not stopping: only the servicer ends it
                while (reply := await watch.read()) is not grpc.aio.EOF:
                    rest.append(reply.status)
            assert rest == [health_pb2.HealthCheckResponse.NOT_SERVING]
            assert await watch.code() == grpc.StatusCode.OK
    finally:
        await server.stop(None)
