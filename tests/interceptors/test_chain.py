from __future__ import annotations

import asyncio
from typing import Any

import grpc

from event_gateway import interceptors, scope
from event_gateway.interceptors._wrap import wrap_unary_unary
from event_gateway.policy.auth import Authenticator
from event_gateway.policy.stores.memory import MemoryStore
from event_gateway.policy.throttle import Throttler
from storefront.v1 import analytics_pb2 as sf_pb2

from .conftest import CONTRACT, GatewayFactory
from .conftest import FakeCatalog


def test_documented_order() -> None:
    extra = Observer()
    chain = interceptors.build_interceptors(
        CONTRACT,
        Authenticator(FakeCatalog()),
        Throttler(MemoryStore(), CONTRACT),
        ["10.0.0.0/8"],
        extra_outer=[extra],
    )
    assert [type(i).__name__ for i in chain] == [
        "ScopeInterceptor", "Observer", "ErrorInterceptor", "AuthInterceptor", "ThrottleInterceptor",
    ]  # fmt: skip


def test_exports() -> None:
    assert sorted(interceptors.__all__) == sorted(
        n for n in dir(interceptors) if n.endswith("Interceptor") or n == "build_interceptors"
    )


class Observer(grpc.aio.ServerInterceptor):
    """Stands for metrics/access log: sees the scope and every call's outcome."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)

        def wrap(inner: Any) -> Any:
            async def behaviour(request: Any, context: Any) -> Any:
                client_ip = scope.current_scope().client_ip
                try:
                    result = await inner(request, context)
                except grpc.aio.AbortError:
                    self.seen.append((client_ip, "aborted"))
                    raise
                self.seen.append((client_ip, "ok"))
                return result

            return behaviour

        return wrap_unary_unary(handler, wrap)


async def test_outer_observers_see_scope_and_refusals(make_gateway: GatewayFactory) -> None:
    observer = Observer()
    gw = await make_gateway(overrides={"storefront": {"api": "1/minute"}}, extra_outer=[observer])
    await gw.storefront.Track(sf_pb2.TrackRequest())
    try:
        await gw.storefront.Track(sf_pb2.TrackRequest())
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The abort reaches the client before the server's coroutine unwinds through the
    # observer, so its record of the refusal may land just after: wait for it (bounded).
    for _ in range(500):
        if len(observer.seen) == 2:
            break
        await asyncio.sleep(0.01)
    assert observer.seen == [("127.0.0.1", "ok"), ("127.0.0.1", "aborted")]
