"""The observability interceptor: metrics and one access-log line per call.

It sits outside the errors interceptor (see interceptors.build_interceptors), so the
status it sees is the final one, refusals included. Both transports pass through it:

- transport is "rest" when the call arrives through the transcoder's in-process
  dispatcher (its context is a `transcoding.InProcessContext`), or when the invocation
  metadata carries ``x-event-gateway-transport: rest`` (a transcoder in another process,
  e.g. `event-gateway transcode`, may add it); otherwise "grpc".
- the outcome is the gRPC status code name ("OK", "INVALID_ARGUMENT", ...).

Refusals also feed `auth_failures_total` (reason from the status's ErrorInfo) and
`throttle_denials_total` (limit names from its QuotaFailure). Decoding the status
details costs something, so it happens only for those codes, never on success.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from event_gateway import scope
from event_gateway.contract import Contract, MethodSpec
from event_gateway.interceptors._wrap import Behaviour, WrappingInterceptor, wrap_unary_unary
from event_gateway.observability.events import begin_call, end_call
from event_gateway.observability.logging import ACCESS_LOGGER
from event_gateway.observability.metrics import Metrics
from event_gateway.transcoding.context import InProcessContext

TRANSPORT_METADATA = "x-event-gateway-transport"
_STATUS_DETAILS = "grpc-status-details-bin"
_CODE_NAMES: dict[Any, str] = {code: code.name for code in grpc.StatusCode}
_CODE_NAMES.update({code.value[0]: code.name for code in grpc.StatusCode})
# What findCaller reports when it cannot tell.
_NO_FILE, _NO_FUNC = "(unknown file)", "(unknown function)"
_AUTH_CODES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})


class AccessInterceptor(WrappingInterceptor):
    def __init__(
        self,
        contract: Contract,
        metrics: Metrics,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._contract = contract
        self._metrics = metrics
        self._log = logger if logger is not None else logging.getLogger(ACCESS_LOGGER)
        self._clock = clock
        super().__init__()

    def wrap_handler(self, name: str, handler: grpc.RpcMethodHandler | None) -> Any:
        spec = self._contract.method(name)
        if spec is None or handler is None:
            return handler  # health, reflection: not an API call
        return wrap_unary_unary(handler, lambda inner: self._observed(spec, inner))

    def _observed(self, spec: MethodSpec, inner: Behaviour) -> Behaviour:
        api = spec.api.name
        method = spec.descriptor.name
        metrics = self._metrics
        clock = self._clock

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = clock()
            counts, token = begin_call()
            outcome = "OK"
            try:
                response = await inner(request, context)
                code = context.code()
                if code is not None:  # set_code() without an abort
                    outcome = _CODE_NAMES.get(code, "UNKNOWN")
                return response
            except asyncio.CancelledError:
                outcome = "CANCELLED"
                raise
            except grpc.aio.AbortError:
                outcome = _CODE_NAMES.get(context.code(), "UNKNOWN")
                raise
            except Exception:
                outcome = "UNKNOWN"
                raise
            finally:
                end_call(token)
                seconds = clock() - started
                transport = _transport(context)
                metrics.observe_call(api, method, transport, outcome, seconds)
                if outcome in _AUTH_CODES or outcome == "RESOURCE_EXHAUSTED":
                    self._count_refusal(api, outcome, context)
                if self._log.isEnabledFor(logging.INFO):
                    fields: dict[str, Any] = {
                        "api": api,
                        "method": method,
                        "transport": transport,
                        "code": outcome,
                        "ms": round(seconds * 1000, 2),
                        "client_ip": _client_ip(),
                    }
                    if counts.known:
                        fields["stored"] = counts.stored
                        fields["duplicates"] = counts.duplicates
                        fields["rejected"] = counts.rejected
                    # Logger.info would walk the stack for the caller's file and line
                    # (findCaller), which no formatter of ours prints: make the record
                    # directly. Same record otherwise, same handlers and filters.
                    log = self._log
                    log.handle(
                        log.makeRecord(
                            log.name, logging.INFO, _NO_FILE, 0, "access", (), None,
                            _NO_FUNC, {"access": fields},
                        )
                    )

        return behaviour

    def _count_refusal(self, api: str, outcome: str, context: grpc.aio.ServicerContext) -> None:
        status = _status_of(context)
        reason = _reason(status)
        if outcome in _AUTH_CODES:
            self._metrics.auth_failed(api, reason or outcome)
            return
        if reason != "RATE_LIMITED":
            return  # QUEUE_FULL and the like are back-pressure, not throttling
        limits = _limits(status) or ["unknown"]
        for limit in limits:
            self._metrics.throttle_denied(api, limit)


def _transport(context: Any) -> str:
    if isinstance(context, InProcessContext):
        return "rest"
    for key, value in context.invocation_metadata() or ():
        if key == TRANSPORT_METADATA:
            return "rest" if value == "rest" else "grpc"
    return "grpc"


def _client_ip() -> str:
    try:
        return scope.current_scope().client_ip
    except LookupError:
        return ""


def _status_of(context: Any) -> status_pb2.Status | None:
    try:
        trailing = context.trailing_metadata() or ()
    except (NotImplementedError, AttributeError):
        return None
    for key, value in trailing:
        if key == _STATUS_DETAILS and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except Exception:  # a malformed status must not break the call's answer
                return None
    return None


def _reason(status: status_pb2.Status | None) -> str:
    if status is None:
        return ""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def _limits(status: status_pb2.Status | None) -> list[str]:
    if status is None:
        return []
    names: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            detail.Unpack(failure)
            # The Throttler writes subjects as "<api>:<limit name>".
            names.extend(v.subject.rpartition(":")[2] for v in failure.violations)
    return names
