"""Refuse gRPC calls with UNAVAILABLE once the worker drains, before grpc-core can cancel them.

grpc.aio's stop() has grpc-core end every call it has accepted but grpc.aio has not yet
picked up (Server::ShutdownAndNotify drops its pending queue before it stops listening
and sends GOAWAY): the client gets CANCELLED, which it does not retry, for a call that
never ran. Under load that queue holds most callers' calls, since grpc.aio picks up
calls between the handlers' turns on the event loop. So graceful_shutdown closes this
gate before stop(): each call picked up from then on is answered UNAVAILABLE at once
(never run, so safe to retry), which empties the queue faster than callers refill it,
and stop() is called once no call has been refused for a moment. Health and reflection
still pass, so probes keep learning NOT_SERVING. gRPC only: uvicorn drains REST itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_status import rpc_status

from event_gateway import errors

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Any]]

_PASSING = ("/grpc.health.", "/grpc.reflection.")
_SHUTTING_DOWN = errors.Unavailable(
    "The server is shutting down; retry the call.", reason="SHUTTING_DOWN"
)


async def _refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
    await context.abort_with_status(rpc_status.to_status(errors.to_rpc_status(_SHUTTING_DOWN)))


class DrainGate(grpc.aio.ServerInterceptor):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._closed = False
        self._last_refusal = 0.0
        self.refused = 0

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(details)
        if not self._closed or handler is None or handler.unary_unary is None:
            return handler
        if details.method.startswith(_PASSING):
            return handler
        self.refused += 1
        self._last_refusal = self._clock()
        # Not even decoded: the refusal does not depend on the request.
        return handler._replace(unary_unary=_refuse, request_deserializer=None)

    async def close(self, quiet: float, limit: float) -> None:
        """Refuse calls from now on; return once none was refused for `quiet` seconds
        (grpc-core's queue is then empty, as far as can be seen), or after `limit`."""
        self._closed = True
        start = self._clock()
        self._last_refusal = start
        while True:
            now = self._clock()
            idle = now - self._last_refusal
            if idle >= quiet or now - start >= limit:
                return
            await asyncio.sleep(min(quiet - idle, limit - (now - start)))
