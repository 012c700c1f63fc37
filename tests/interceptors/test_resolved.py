from __future__ import annotations

from typing import Any

import grpc

from event_gateway.interceptors.resolved import ResolvedChain


class Counting(grpc.aio.ServerInterceptor):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        self.log.append(self.name)
        return await continuation(details)


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method, self.invocation_metadata = method, ()


async def test_the_chain_runs_in_order_once_per_known_method() -> None:
    log: list[str] = []
    chain = ResolvedChain([Counting("outer", log), Counting("inner", log)])
    handlers = {"/a.S/M": object(), "/a.S/N": object()}
    asked: list[str] = []

    async def continuation(details: grpc.HandlerCallDetails) -> Any:
        asked.append(details.method)
        return handlers.get(details.method)

    for _ in range(3):
        assert await chain.intercept_service(continuation, Details("/a.S/M")) is handlers["/a.S/M"]
    assert log == ["outer", "inner"] and asked == ["/a.S/M"]
    assert await chain.intercept_service(continuation, Details("/a.S/N")) is handlers["/a.S/N"]
    assert log == ["outer", "inner"] * 2
    # Unknown methods are not kept: every call asks again, and the cache stays bounded.
    for _ in range(2):
        assert await chain.intercept_service(continuation, Details("/nope.S/X")) is None
    assert asked == ["/a.S/M", "/a.S/N", "/nope.S/X", "/nope.S/X"]
