"""Authenticate calls to APIs that declare credentials; public APIs pass.

The principal goes into the call scope for the throttle interceptor and servicers.
Runs inside the errors interceptor (its refusals become statuses) and outside the
throttle one, so a failed authentication never spends a tenant's quota.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from event_gateway import scope
from event_gateway.interceptors._wrap import Behaviour, WrappedHandlers, wrap_unary_unary
from event_gateway.policy.auth import Authenticator


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator
        self._wrapped = WrappedHandlers()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        wrapped = self._wrapped.get(method, handler)
        if wrapped is not None:
            return wrapped
        return self._wrapped.put(method, handler, wrap_unary_unary(handler, self._authenticating))

    def _authenticating(self, inner: Behaviour) -> Behaviour:
        authenticator = self._authenticator

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                call = scope.current_scope()
            except LookupError:
                # Not a documented method (health, reflection): no policy applies.
                return await inner(request, context)
            api = call.method.api
            if not api.public:
                call.principal = await authenticator.authenticate(
                    api, context.invocation_metadata() or (), call.client_ip
                )
            return await inner(request, context)

        return behaviour
