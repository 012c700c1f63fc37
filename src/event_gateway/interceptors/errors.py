"""Turn the gateway's errors into gRPC statuses, in one place (architecture.md).

A GatewayError becomes `abort_with_status` with its google.rpc.Status (details in
grpc-status-details-bin). Anything else is a bug: logged with its traceback and
answered INTERNAL with a generic message, so internals never reach a caller.

A request whose bytes are not a valid message is the client's mistake, but grpc.aio
answers a failing deserializer with UNKNOWN. So the deserializer is wrapped to hand the
failure on as a value, and the call is refused with INVALID_ARGUMENT here.

A status sent over gRPC is bounded (`errors.MAX_STATUS_BYTES`): past the clients'
metadata limit they would drop it and report RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from grpc_status import rpc_status

from event_gateway import errors
from event_gateway.interceptors._wrap import Behaviour, WrappingInterceptor, wrap_unary_unary
from event_gateway.transcoding.context import InProcessContext

logger = logging.getLogger(__name__)


class _Undecodable:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # DecodeError, or anything a parser raises on garbage
            return _Undecodable(exc)

    return deserialize


class ErrorInterceptor(WrappingInterceptor):
    def wrap_handler(self, method: str, handler: grpc.RpcMethodHandler | None) -> Any:
        wrapped = wrap_unary_unary(handler, lambda inner: _converting(method, inner))
        if wrapped is not None and wrapped.unary_unary is not None and wrapped.request_deserializer:
            wrapped = wrapped._replace(request_deserializer=_tolerant(wrapped.request_deserializer))
        return wrapped


def _converting(method: str, inner: Behaviour) -> Behaviour:
    async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, _Undecodable):
            await _abort(
                context,
                errors.InvalidArgument("The request is not a valid protobuf message.", reason="MALFORMED_REQUEST"),
            )
        try:
            return await inner(request, context)
        except grpc.aio.AbortError:
            # Raised by context.abort*() below us: the status is already decided.
            raise
        except errors.GatewayError as err:
            await _abort(context, err)
        except Exception:
            logger.exception("unhandled error in %s", method)
            await _abort(context, errors.Internal("Internal error.", reason="INTERNAL"))

    return behaviour


async def _abort(context: grpc.aio.ServicerContext, err: errors.GatewayError) -> None:
    # Over HTTP/2 the status travels in trailers, which clients cap; a REST call's
    # status is rendered into a body, so there it keeps every violation.
    limit = None if isinstance(context, InProcessContext) else errors.MAX_STATUS_BYTES
    status = rpc_status.to_status(errors.to_rpc_status(err, max_bytes=limit))
    # abort_with_status replaces trailing metadata set earlier (grpc/aio/_base_server.py),
    # which would drop retry-after and the rate-limit state: carry them over.
    earlier = tuple(
        (key, value)
        for key, value in (context.trailing_metadata() or ())
        if key != rpc_status.GRPC_DETAILS_METADATA_KEY
    )
    if earlier:
        status = status._replace(trailing_metadata=earlier + tuple(status.trailing_metadata))
    await context.abort_with_status(status)
