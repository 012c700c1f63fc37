"""The one way interceptors wrap a handler (as BentoML's `wrap_rpc_handler`).

Every documented method is unary-unary, so that is the kind wrapped; other kinds
(health Watch, reflection) pass untouched. The scope interceptor refuses a streaming
method of a documented API with `refuse_streaming`, so one added later can never
skip auth and throttling by accident.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
Wrapper = Callable[[Behaviour], Behaviour]


def wrap_unary_unary(handler: grpc.RpcMethodHandler | None, wrap: Wrapper) -> Any:
    """`handler` with its behaviour replaced by `wrap(behaviour)`."""
    if handler is None or handler.unary_unary is None:
        return handler
    return handler._replace(unary_unary=wrap(_as_async(handler.unary_unary)))  # type: ignore[attr-defined]


def _as_async(behaviour: Callable[..., Any]) -> Behaviour:
    if inspect.iscoroutinefunction(behaviour):
        return behaviour

    # A plain-function servicer: grpc.aio would have run it for us; keep it working.
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        result = behaviour(request, context)
        return await result if inspect.isawaitable(result) else result

    return call


def refuse_streaming(handler: Any) -> Any:
    """`handler` of a streaming kind, made to answer UNIMPLEMENTED."""

    async def refuse(request_or_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "Streaming methods are not served by this gateway."
        )

    kind = next(k for k in ("unary_stream", "stream_unary", "stream_stream") if getattr(handler, k))
    return handler._replace(**{kind: refuse})
