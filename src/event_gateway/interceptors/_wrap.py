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


class WrappedHandlers:
    """An interceptor's wrapped handlers, kept per method while the inner handler is the same.

    grpc.aio runs every interceptor's ``intercept_service`` on every call. Ours wrap a
    handler the same way for every call of a method (the wrapping depends on the method
    name and the handler only; per-call work happens inside the wrapped behaviour), so
    the wrapped handler of the first call is reused as long as the continuation returns
    the very same handler object. Since each layer then returns the same object, the
    layer outside it hits its cache too, and no closures are rebuilt per call.
    Only found handlers are kept, so the cache holds at most one entry per served method.
    """

    __slots__ = ("_by_method",)

    def __init__(self) -> None:
        self._by_method: dict[str, tuple[Any, Any]] = {}

    def get(self, method: str, handler: Any) -> Any:
        """The wrapped handler kept for ``method`` and this ``handler``, or None."""
        entry = self._by_method.get(method)
        if entry is not None and entry[0] is handler:
            return entry[1]
        return None

    def put(self, method: str, handler: Any, wrapped: Any) -> Any:
        if handler is not None and wrapped is not None:
            self._by_method[method] = (handler, wrapped)
        return wrapped


class WrappingInterceptor(grpc.aio.ServerInterceptor):
    """An interceptor that wraps each method's handler once and keeps it (see
    WrappedHandlers). A subclass says how in `wrap` (the same for every method) or, when
    the wrapping depends on the method, in `wrap_handler`."""

    def __init__(self) -> None:
        self._wrapped = WrappedHandlers()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        wrapped = self._wrapped.get(method, handler)
        if wrapped is None:
            wrapped = self._wrapped.put(method, handler, self.wrap_handler(method, handler))
        return wrapped  # type: ignore[no-any-return]

    def wrap_handler(self, method: str, handler: grpc.RpcMethodHandler | None) -> Any:
        """`handler` for `method` as this interceptor serves it (possibly unchanged)."""
        return wrap_unary_unary(handler, self.wrap)

    def wrap(self, inner: Behaviour) -> Behaviour:
        raise NotImplementedError
