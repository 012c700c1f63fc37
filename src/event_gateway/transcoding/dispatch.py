"""Where a transcoded request goes: in-process through the interceptor chain, or upstream.

Both dispatchers return a `CallOutcome`; neither knows HTTP. `InProcessDispatcher`
runs the same ``grpc.GenericRpcHandler``\\ s and ``grpc.aio.ServerInterceptor``\\ s a
grpc.aio server runs, in the same order, so REST and gRPC calls see one code path.
`UpstreamDispatcher` forwards over a ``grpc.aio.Channel`` to a server in another process.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from google.protobuf import message_factory
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from grpc import aio

from .context import InProcessContext, Metadata
from .status import code_number, status_code_from_number

logger = logging.getLogger(__name__)

STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(slots=True)
class CallOutcome:
    """The result of one call: a response or a failed status, plus both metadata sets.

    ``status`` is None on success. Trailing metadata no longer holds
    ``grpc-status-details-bin``: its content is in ``status.details``.
    """

    response: Message | None
    status: status_pb2.Status | None = None
    initial_metadata: Metadata = ()
    trailing_metadata: Metadata = field(default=())


@dataclass(frozen=True, slots=True)
class Refused:
    """In place of a request the transcoder refused (`status` says why), dispatched all
    the same (`TranscodingOptions.dispatch_refusals`), so the interceptors see the call
    as they see any other: authenticated, counted against rate limits, observed. Beneath
    them the in-process dispatcher answers it with `status`; no servicer receives one."""

    status: status_pb2.Status


class Dispatcher(Protocol):
    async def call(
        self, method: str, request: Message, metadata: Metadata, peer: str
    ) -> CallOutcome:
        """Call ``method`` (``/pkg.Service/Method``) with a decoded request message."""
        ...


def failed_outcome(
    code: int | grpc.StatusCode,
    details: str | None,
    initial: Iterable[tuple[str, Any]] = (),
    trailing: Iterable[tuple[str, Any]] = (),
) -> CallOutcome:
    """An outcome for a failed call; a rich status in the trailers wins over code/details."""
    rest: list[tuple[str, Any]] = []
    status: status_pb2.Status | None = None
    for key, value in trailing:
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                status = status_pb2.Status.FromString(value)
            except DecodeError:
                logger.warning("ignoring malformed %s trailer", STATUS_DETAILS_KEY)
        else:
            rest.append((key, value))
    number = code_number(code)
    if status is None or status.code != number:
        # gRPC requires the rich status to agree with the call's code; if not, the code wins.
        status = status_pb2.Status(code=number, message=details or "")
    return CallOutcome(None, status, tuple(initial), tuple(rest))


class _CallDetails(grpc.HandlerCallDetails):
    """What interceptors receive, as grpc.aio's ``_HandlerCallDetails``."""

    __slots__ = ("method", "invocation_metadata")

    def __init__(self, method: str, invocation_metadata: Metadata) -> None:
        self.method = method
        self.invocation_metadata = invocation_metadata


def _is_async(behaviour: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(behaviour) or inspect.isawaitable(behaviour)


class InProcessDispatcher:
    """Calls servicers in this process through the grpc.aio interceptor chain.

    Generated ``add_FooServicer_to_server(servicer, server)`` functions accept this
    object as their ``server`` (it has ``add_generic_rpc_handlers`` and, as grpcio 1.85
    calls too, ``add_registered_method_handlers``).
    """

    def __init__(
        self,
        handlers: Iterable[grpc.GenericRpcHandler] = (),
        interceptors: Sequence[aio.ServerInterceptor] = (),
        *,
        per_method_interceptors: bool = False,
    ) -> None:
        """``per_method_interceptors``: run the interceptors' ``intercept_service`` once per
        method name and reuse the handler it returns for every later call of that method.

        grpc.aio runs ``intercept_service`` on every call, and so does this dispatcher by
        default, since an interceptor may decide per call (from the invocation metadata,
        say). Pass True only when every interceptor's choice of handler depends on the
        method name alone and per-call work happens inside the handler's behaviour: the
        chain's resolution then costs nothing per call. The first call of a method
        resolves it with that call's metadata.
        """
        self._generic: list[grpc.GenericRpcHandler] = list(handlers)
        self._registered: dict[str, grpc.RpcMethodHandler] = {}
        self._interceptors = tuple(interceptors)
        # Handler lookup is pure per method name, so it is done once; interceptors
        # still run on every call unless per_method_interceptors says they may not.
        self._handlers: dict[str, grpc.RpcMethodHandler | None] = {}
        self._per_method = per_method_interceptors
        self._resolved: dict[str, grpc.RpcMethodHandler | None] = {}
        self._refusing: dict[str, grpc.RpcMethodHandler | None] = {}

    # -- registration (the grpc.Server surface generated code uses) ----------------
    def add_generic_rpc_handlers(self, generic_rpc_handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._generic.extend(generic_rpc_handlers)
        self._handlers.clear()
        self._resolved.clear()
        self._refusing.clear()

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        for name, handler in method_handlers.items():
            self._registered[f"/{service_name}/{name}"] = handler
        self._handlers.clear()
        self._resolved.clear()
        self._refusing.clear()

    # -- handler resolution ------------------------------------------------------
    def _query_handlers(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method
        if method in self._handlers:
            return self._handlers[method]
        # Registered handlers take precedence over generic ones, as in grpc.aio.
        handler = self._registered.get(method)
        if handler is None:
            for generic in self._generic:
                handler = generic.service(details)
                if handler is not None:
                    break
        self._handlers[method] = handler
        return handler

    async def _intercept(self, index: int, details: grpc.HandlerCallDetails) -> Any:
        if index == len(self._interceptors):
            # One wrapper per method, kept: interceptors reuse their wrapping while the
            # handler beneath them is the same object.
            method = details.method
            if method not in self._refusing:
                self._refusing[method] = _refusing(self._query_handlers(details))
            return self._refusing[method]

        def continuation(d: grpc.HandlerCallDetails) -> Awaitable[Any]:
            return self._intercept(index + 1, d)

        return await self._interceptors[index].intercept_service(continuation, details)

    async def _resolve(self, method: str, metadata: Metadata) -> grpc.RpcMethodHandler | None:
        details = _CallDetails(method, metadata)
        if not self._interceptors:
            return self._query_handlers(details)
        if not self._per_method:
            return await self._intercept(0, details)
        handler = self._resolved.get(method)
        if handler is None:
            handler = await self._intercept(0, details)
            if handler is not None:  # unknown names are not kept: the cache stays bounded
                self._resolved[method] = handler
        return handler

    # -- the call ------------------------------------------------------------------
    async def call(
        self, method: str, request: Message, metadata: Metadata, peer: str
    ) -> CallOutcome:
        if type(request) is Refused and not self._interceptors:
            return CallOutcome(None, request.status)
        context = InProcessContext(metadata, peer)
        try:
            handler = self._resolved.get(method) if self._per_method else None
            if handler is None:
                handler = await self._resolve(method, metadata)
            if handler is None:
                return failed_outcome(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
            if handler.request_streaming or handler.response_streaming:
                return failed_outcome(
                    grpc.StatusCode.UNIMPLEMENTED, "Only unary methods are transcoded in-process"
                )
            response = await self._invoke(handler.unary_unary, request, context)
        except aio.AbortError:
            response = None
        except Exception:
            if not context.aborted:
                # A servicer bug: grpc.aio answers UNKNOWN; the client gets no internals.
                logger.exception("unhandled exception in %s", method)
                return failed_outcome(grpc.StatusCode.UNKNOWN, "Unexpected error")
            response = None
        finally:
            context.finish()
        code = context.code() or grpc.StatusCode.OK
        if code != grpc.StatusCode.OK:
            return failed_outcome(
                code, context.details(), context.initial_metadata(), context.trailing_metadata()
            )
        return CallOutcome(
            response, None, context.initial_metadata(), context.trailing_metadata()
        )

    @staticmethod
    async def _invoke(
        behaviour: Callable[..., Any], request: Message, context: InProcessContext
    ) -> Any:
        if _is_async(behaviour):
            return await behaviour(request, context)
        # grpc.aio runs synchronous behaviours in its thread pool; so do we.
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, behaviour, request, context)
        return await result if inspect.isawaitable(result) else result


def _refusing(handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler | None:
    """The servicer's handler, answering a `Refused` request with its status instead
    (beneath the interceptors, which await it)."""
    if handler is None or handler.unary_unary is None:
        return handler
    inner = handler.unary_unary

    async def behaviour(request: Any, context: Any) -> Any:
        if type(request) is Refused:
            return await _refuse(request.status, context)
        result = inner(request, context)
        return await result if inspect.isawaitable(result) else result

    return handler._replace(unary_unary=behaviour)


async def _refuse(status: status_pb2.Status, context: Any) -> None:
    trailing = ((STATUS_DETAILS_KEY, status.SerializeToString()),) if status.details else ()
    await context.abort(status_code_from_number(status.code), status.message, trailing)


class UpstreamDispatcher:
    """Proxy mode: forwards each call to a gRPC server over a ``grpc.aio`` channel."""

    def __init__(
        self,
        channel: aio.Channel,
        timeout: float | None = None,
        user_agent_key: str = "grpcgateway-user-agent",
    ) -> None:
        self._channel = channel
        self._timeout = timeout
        # grpc-core replaces a call's user-agent with its own, so the client's is sent
        # under grpc-gateway's name for forwarded permanent headers instead.
        self._user_agent_key = user_agent_key
        self._callables: dict[str, aio.UnaryUnaryMultiCallable] = {}

    def _callable(self, method: str, request: Message) -> aio.UnaryUnaryMultiCallable:
        callable_ = self._callables.get(method)
        if callable_ is None:
            service, _, name = method.lstrip("/").partition("/")
            descriptor = request.DESCRIPTOR.file.pool.FindMethodByName(f"{service}.{name}")
            response_class = message_factory.GetMessageClass(descriptor.output_type)
            callable_ = self._channel.unary_unary(
                method,
                request_serializer=type(request).SerializeToString,
                response_deserializer=response_class.FromString,
            )
            self._callables[method] = callable_
        return callable_

    async def call(
        self, method: str, request: Message, metadata: Metadata, peer: str
    ) -> CallOutcome:
        if type(request) is Refused:
            return CallOutcome(None, request.status)  # nothing to send: refused here
        metadata = tuple(
            (self._user_agent_key, value) if key == "user-agent" else (key, value)
            for key, value in metadata
        )
        call = self._callable(method, request)(request, metadata=metadata, timeout=self._timeout)
        try:
            response = await call
        except aio.AioRpcError as err:
            return failed_outcome(
                err.code(),
                err.details(),
                tuple(err.initial_metadata() or ()),
                tuple(err.trailing_metadata() or ()),
            )
        initial = tuple(await call.initial_metadata() or ())
        trailing = tuple(await call.trailing_metadata() or ())
        return CallOutcome(response, None, initial, trailing)
