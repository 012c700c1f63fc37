"""Outermost interceptor: resolve the method's spec and the client's address once.

Everything below reads them from `scope.current_scope()`. Methods outside the
contract (health, reflection) pass through untouched and get no scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc

from event_gateway import scope
from event_gateway.contract import Contract, MethodSpec
from event_gateway.interceptors._wrap import Behaviour, WrappedHandlers, refuse_streaming, wrap_unary_unary
from event_gateway.policy.client_address import TrustedProxies, client_address


class ScopeInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, contract: Contract, trusted_proxies: TrustedProxies | Iterable[str] = ()) -> None:
        self._contract = contract
        self._trusted = (
            trusted_proxies
            if isinstance(trusted_proxies, TrustedProxies)
            else TrustedProxies(trusted_proxies)
        )
        self._wrapped = WrappedHandlers()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        name = handler_call_details.method
        wrapped = self._wrapped.get(name, handler)
        if wrapped is not None:
            return wrapped
        method = self._contract.method(name)
        if method is None or handler is None:
            return handler
        if handler.unary_unary is None:
            return self._wrapped.put(name, handler, refuse_streaming(handler))
        wrapped = wrap_unary_unary(handler, lambda inner: self._scoped(method, inner))
        return self._wrapped.put(name, handler, wrapped)

    def _scoped(self, method: MethodSpec, inner: Behaviour) -> Behaviour:
        trusted = self._trusted

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            forwarded = [
                value
                for key, value in (context.invocation_metadata() or ())
                if key == "x-forwarded-for" and isinstance(value, str)
            ]
            call = scope.CallScope(method, client_address(context.peer(), forwarded, trusted))
            token = scope.enter_scope(call)
            try:
                return await inner(request, context)
            finally:
                scope.leave_scope(token)

        return behaviour
