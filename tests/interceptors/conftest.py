"""A real grpc.aio server on a free port, with the gateway's interceptors and small servicers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2

from alana.v1 import shopper_events_pb2 as alana_pb2
from alana.v1 import shopper_events_pb2_grpc as alana_grpc
from event_gateway import scope
from event_gateway.contract import default_contract
from event_gateway.interceptors import build_interceptors
from event_gateway.interceptors.resolved import ResolvedChain
from event_gateway.policy.auth import Authenticator
from event_gateway.policy.stores.memory import MemoryStore
from event_gateway.policy.throttle import Throttler
from storefront.v1 import analytics_pb2 as sf_pb2
from storefront.v1 import analytics_pb2_grpc as sf_grpc

try:  # tests/ as a package (if it ever gets an __init__.py)
    from ..policy.fakes import FakeCatalog
except ImportError:  # tests/ itself on sys.path, pytest's default for rootless packages
    from policy.fakes import FakeCatalog  # type: ignore[no-redef]

CONTRACT = default_contract()


@dataclass
class Calls:
    """What the servicers saw, and what they should do next."""

    scopes: list[scope.CallScope] = field(default_factory=list)
    # Called inside the servicer; may raise or abort to test error handling.
    action: Callable[[grpc.aio.ServicerContext], Any] | None = None


class Alana(alana_grpc.ShopperEventsServiceServicer):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def TrackEvents(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.calls.scopes.append(scope.current_scope())
        if self.calls.action is not None:
            result = self.calls.action(context)
            if hasattr(result, "__await__"):
                await result
        return alana_pb2.TrackEventsResponse(status="ok", stored=len(request.events))


class Storefront(sf_grpc.StorefrontAnalyticsServiceServicer):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def Track(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.calls.scopes.append(scope.current_scope())
        return sf_pb2.TrackResponse(success=True)


@dataclass
class Gateway:
    channel: grpc.aio.Channel
    calls: Calls
    catalog: FakeCatalog

    @property
    def alana(self) -> Any:
        return alana_grpc.ShopperEventsServiceStub(self.channel)

    @property
    def storefront(self) -> Any:
        return sf_grpc.StorefrontAnalyticsServiceStub(self.channel)


GatewayFactory = Callable[..., Any]


@pytest.fixture(params=["resolved", "per-call"])
async def make_gateway(request: pytest.FixtureRequest) -> AsyncIterator[GatewayFactory]:
    """Start a server: make_gateway(overrides=..., auth_failures=..., trusted_proxies=...).

    Each test runs twice: with the chain resolved once per method (ResolvedChain, as
    server.py composes it) and with grpc.aio running every interceptor on every call.
    """
    resolved = request.param == "resolved"
    servers: list[grpc.aio.Server] = []
    channels: list[grpc.aio.Channel] = []

    async def make(
        *,
        overrides: dict[str, dict[str, str]] | None = None,
        auth_failures: str = "30/minute",
        trusted_proxies: Sequence[str] = (),
        extra_outer: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> Gateway:
        catalog, calls = FakeCatalog(), Calls()
        authenticator = Authenticator(catalog, failure_store=MemoryStore(), failure_rate=auth_failures)
        throttler = Throttler(MemoryStore(), CONTRACT, overrides=overrides)
        chain = build_interceptors(
            CONTRACT, authenticator, throttler, trusted_proxies, extra_outer=extra_outer
        )
        server = grpc.aio.server(interceptors=[ResolvedChain(chain)] if resolved else chain)
        alana_grpc.add_ShopperEventsServiceServicer_to_server(Alana(calls), server)
        sf_grpc.add_StorefrontAnalyticsServiceServicer_to_server(Storefront(calls), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        channels.append(channel)
        return Gateway(channel, calls, catalog)

    yield make
    for channel in channels:
        await channel.close()
    for server in servers:
        await server.stop(None)


def rich_status(err: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status a client finds in grpc-status-details-bin."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    raise AssertionError("no grpc-status-details-bin in the trailers")


def trailers(err: grpc.aio.AioRpcError) -> dict[str, Any]:
    return {k: v for k, v in (err.trailing_metadata() or ())}
