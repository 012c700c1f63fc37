"""Charge the call against its method's limits; report their state in trailing metadata.

Trailing, not initial, metadata: sending initial metadata early cost 120–170 µs per
call in measurements, trailers cost nothing, and the transcoder copies both into REST
headers. On a denial the same metadata (plus retry-after) is set before raising; the
errors interceptor carries it into the aborted status, which would otherwise drop it.
"""

from __future__ import annotations

from typing import Any

import grpc

from event_gateway import scope
from event_gateway.interceptors._wrap import Behaviour, WrappingInterceptor
from event_gateway.policy.throttle import Throttler


class ThrottleInterceptor(WrappingInterceptor):
    def __init__(self, throttler: Throttler) -> None:
        self._throttler = throttler
        super().__init__()

    def wrap(self, inner: Behaviour) -> Behaviour:
        throttler = self._throttler

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                call = scope.current_scope()
            except LookupError:
                return await inner(request, context)
            outcome = await throttler.check(
                call.method, principal=call.principal, client_ip=call.client_ip, request=request
            )
            metadata = outcome.metadata()
            if metadata:
                context.set_trailing_metadata(metadata)
            outcome.raise_if_denied()
            response = await inner(request, context)
            # Identity, not equality: the usual case (nobody replaced it) costs nothing,
            # and `_keep` is exact when the servicer did set its own.
            if metadata and context.trailing_metadata() is not metadata:
                _keep(context, metadata)
            return response

        return behaviour


def _keep(context: grpc.aio.ServicerContext, metadata: tuple[tuple[str, str], ...]) -> None:
    """Re-add our entries if the servicer replaced the trailing metadata with its own."""
    current = tuple(context.trailing_metadata() or ())
    present = {key for key, _ in current}
    missing = tuple(item for item in metadata if item[0] not in present)
    if missing:
        context.set_trailing_metadata(current + missing)
