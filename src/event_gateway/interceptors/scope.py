"""Outermost interceptor: resolve the method's spec and the client's address once.

Everything below reads them from `scope.current_scope()`. Methods outside the
contract (health, reflection) pass through untouched and get no scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc

from event_gateway import scope
from event_gateway.contract import Contract, MethodSpec
from event_gateway.interceptors._wrap import (
    Behaviour,
    WrappingInterceptor,
    refuse_streaming,
    wrap_unary_unary,
)
from event_gateway.policy.client_address import TrustedProxies, client_address


class ScopeInterceptor(WrappingInterceptor):
    def __init__(self, contract: Contract, trusted_proxies: TrustedProxies | Iterable[str] = ()) -> None:
        self._contract = contract
        self._trusted = (
            trusted_proxies
            if isinstance(trusted_proxies, TrustedProxies)
            else TrustedProxies(trusted_proxies)
        )
        super().__init__()

    def wrap_handler(self, name: str, handler: grpc.RpcMethodHandler | None) -> Any:
        method = self._contract.method(name)
        if method is None or handler is None:
            return handler
        if handler.unary_unary is None:
            return refuse_streaming(handler)
        return wrap_unary_unary(handler, lambda inner: self._scoped(method, inner))

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
