"""Run a chain of interceptors once per method name on a grpc.aio server.

grpc.aio runs every interceptor's ``intercept_service`` on every call, each through a
new continuation. Ours choose a handler by method name alone and do their per-call
work inside the handler they return, so the handler the whole chain returns for a
method is the same every time: this interceptor runs the chain on a method's first
call and hands back that handler on every later one (what the in-process
dispatcher's ``per_method_interceptors`` does for REST). Unknown methods are not kept,
so the cache holds at most one entry per served method.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Any]]


class ResolvedChain(grpc.aio.ServerInterceptor):
    def __init__(self, interceptors: Sequence[grpc.aio.ServerInterceptor]) -> None:
        self._interceptors = tuple(interceptors)
        self._handlers: dict[str, Any] = {}

    async def intercept_service(self, continuation: Continuation, details: grpc.HandlerCallDetails) -> Any:
        handler = self._handlers.get(details.method)
        if handler is None:
            handler = await self._run(0, continuation, details)
            if handler is not None:
                self._handlers[details.method] = handler
        return handler

    async def _run(self, index: int, continuation: Continuation, details: grpc.HandlerCallDetails) -> Any:
        if index == len(self._interceptors):
            return await continuation(details)

        def next_one(d: grpc.HandlerCallDetails) -> Awaitable[Any]:
            return self._run(index + 1, continuation, d)

        return await self._interceptors[index].intercept_service(next_one, details)
