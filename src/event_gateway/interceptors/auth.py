"""Authenticate calls to APIs that declare credentials; public APIs pass.

The principal goes into the call scope for the throttle interceptor and servicers.
Runs inside the errors interceptor (its refusals become statuses) and outside the
throttle one, so a failed authentication never spends a tenant's quota.
"""

from __future__ import annotations

from typing import Any

import grpc

from event_gateway import scope
from event_gateway.interceptors._wrap import Behaviour, WrappingInterceptor
from event_gateway.policy.auth import Authenticator


class AuthInterceptor(WrappingInterceptor):
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator
        super().__init__()

    def wrap(self, inner: Behaviour) -> Behaviour:
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
