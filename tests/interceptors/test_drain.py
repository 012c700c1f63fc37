"""The drain gate on a real grpc.aio server: calls not yet started are refused UNAVAILABLE."""

from __future__ import annotations

import asyncio
import time

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from event_gateway.interceptors.drain import DrainGate

METHOD = "/x.v1.S/M"


async def test_a_closed_gate_refuses_new_calls_and_lets_running_ones_and_health_finish() -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        entered.set()
        await release.wait()
        return b"done"

    gate = DrainGate()
    server = grpc.aio.server(interceptors=[gate])
    handlers = {"M": grpc.unary_unary_rpc_method_handler(slow)}
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("x.v1.S", handlers)])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(METHOD)
            running = asyncio.ensure_future(call(b"", timeout=5))
            await entered.wait()
            closing = asyncio.create_task(gate.close(quiet=0.2, limit=5))
            await asyncio.sleep(0)
            try:
                await call(b"", timeout=5)
                raise AssertionError("a call after close was served")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
            probe = health_pb2_grpc.HealthStub(channel)
            reply = await probe.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            assert gate.refused == 1
            assert not closing.done()  # a call was refused less than `quiet` ago
            release.set()
            assert await running == b"done"
            await closing
    finally:
        await server.stop(None)


async def test_close_returns_after_quiet_or_at_the_limit() -> None:
    gate = DrainGate()
    started = time.monotonic()
    await gate.close(quiet=0.05, limit=5)
    assert 0.04 <= time.monotonic() - started < 1

    async def refuse_all_the_time() -> None:
        while True:
            gate._last_refusal = time.monotonic()  # as a steady stream of refused calls would
            await asyncio.sleep(0.01)

    steady = asyncio.create_task(refuse_all_the_time())
    started = time.monotonic()
    await gate.close(quiet=0.05, limit=0.3)
    steady.cancel()
    assert 0.25 <= time.monotonic() - started < 1
