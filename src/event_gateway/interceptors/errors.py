"""Turn the gateway's errors into gRPC statuses, in one place (architecture.md).

A GatewayError becomes `abort_with_status` with its google.rpc.Status (details in
grpc-status-details-bin). Anything else is a bug: logged with its traceback and
answered INTERNAL with a generic message, so internals never reach a caller.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_status import rpc_status

from event_gateway import errors
from event_gateway.interceptors._wrap import Behaviour, wrap_unary_unary

logger = logging.getLogger(__name__)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        return wrap_unary_unary(handler, lambda inner: _converting(handler_call_details.method, inner))


def _converting(method: str, inner: Behaviour) -> Behaviour:
    async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
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
    status = rpc_status.to_status(errors.to_rpc_status(err))
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
