"""Liveness and readiness over HTTP, and the gRPC health service's serving states.

GET /healthz answers 200 while the process can answer at all (liveness: restart me if
this fails). GET /readyz runs the readiness checks passed in (database reachable,
writer not saturated, Redis reachable when configured) concurrently, each bounded by a
timeout, and answers 503 with every check's result when any fails, so a load balancer
stops sending traffic without the process being restarted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from grpc_health.v1 import health, health_pb2

from event_gateway.web.responses import Receive, Scope, Send, method_not_allowed, send_json

SERVING = 1  # grpc_health.v1.health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = 2
SERVICE_UNKNOWN = 3


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    """A named check: ready when `probe()` returns a truthy value without raising."""

    name: str
    probe: Callable[[], Awaitable[Any]]


class Health:
    def __init__(self, checks: Sequence[ReadinessCheck] = (), timeout: float = 2.0) -> None:
        self._checks = tuple(checks)
        self._timeout = timeout
        self._draining = False

    def start_draining(self) -> None:
        """From now on /readyz answers 503 (graceful shutdown has begun)."""
        self._draining = True

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        results = await asyncio.gather(*(self._run(c) for c in self._checks))
        checks = dict(zip((c.name for c in self._checks), results, strict=True))
        if self._draining:
            checks["shutdown"] = "draining"
        return all(r == "ok" for r in checks.values()), checks

    async def _run(self, check: ReadinessCheck) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                ok = await check.probe()
        except TimeoutError:
            return f"timed out after {self._timeout}s"
        except Exception as exc:  # a check that raises is a failed check, not a 500
            return f"error: {type(exc).__name__}"
        return "ok" if ok else "failing"

    async def healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await method_not_allowed(send, "GET, HEAD")
            return
        await send_json(send, 200, {"status": "ok"})

    async def readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await method_not_allowed(send, "GET, HEAD")
            return
        ready, checks = await self.readiness()
        if ready:
            await send_json(send, 200, {"status": "ok", "checks": checks})
        else:
            await send_json(send, 503, {"status": "unready", "checks": checks})


class HealthServicer(health.aio.HealthServicer):
    """grpcio-health-checking's servicer with `List`, which health.proto gained in 2024:
    the package's generated base class answers it by raising NotImplementedError, which
    a health tool would see as a server fault (INTERNAL) rather than as the list."""

    async def List(  # noqa: N802 (gRPC method name)
        self, request: health_pb2.HealthListRequest, context: Any
    ) -> health_pb2.HealthListResponse:
        # The base class keeps every status it was told, including its own shutdown
        # marking, in `_server_status`; reading it keeps List and Check in agreement.
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)
                for name, status in self._server_status.items()
            }
        )


    async def Watch(  # noqa: N802 (gRPC method name)
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> None:
        """The base class's watch, except that the stream ends, OK, once shutdown has
        begun and NOT_SERVING has been sent. An open watch is an RPC in flight: it held
        every drain for the whole of shutdown_grace (2 s became 12 s), and the watcher
        learns nothing more by staying; it reconnects elsewhere."""
        service = request.service
        changed = self._server_watchers[service]
        self._watcher_count_by_service[service] += 1
        sent = None
        try:
            async with changed:
                while True:
                    status = self._server_status.get(service, SERVICE_UNKNOWN)
                    if status != sent:
                        await context.write(health_pb2.HealthCheckResponse(status=status))
                        sent = status
                    if self._gracefully_shutting_down:
                        return
                    await changed.wait()
        finally:
            # The base class's bookkeeping: the last watcher of a service removes it.
            self._watcher_count_by_service[service] -= 1
            if self._watcher_count_by_service[service] == 0:
                del self._server_watchers[service]
                del self._watcher_count_by_service[service]


async def set_serving(health_servicer: Any, service_names: Iterable[str]) -> None:
    """Mark the server ("") and each service SERVING: call once all are registered."""
    for name in ("", *service_names):
        await health_servicer.set(name, SERVING)


async def set_not_serving(health_servicer: Any, service_names: Iterable[str] = ()) -> None:
    """Mark everything NOT_SERVING for good (later set() calls are ignored)."""
    for name in ("", *service_names):
        await health_servicer.set(name, NOT_SERVING)
    # Freezes every status at NOT_SERVING, including services not named here.
    await health_servicer.enter_graceful_shutdown()
