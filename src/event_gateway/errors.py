"""The gateway's one error hierarchy.

Every failure the gateway reports to a caller is a `GatewayError`. Each class carries
its gRPC status code; `to_rpc_status` turns an error into a `google.rpc.Status` with
rich details (BadRequest, ErrorInfo, RetryInfo, QuotaFailure). That Status is what
gRPC clients receive, and what the REST side renders, through the HTTP status table in
`event_gateway.transcoding.status` and the API's own error dialect. No other module
maps errors to transport codes.

    GatewayError
    ├── InvalidArgument        INVALID_ARGUMENT    bad request fields (field violations)
    ├── NotFound               NOT_FOUND
    ├── Unauthenticated        UNAUTHENTICATED     missing or bad credentials (reason says which)
    ├── PermissionDenied       PERMISSION_DENIED   valid key, wrong scope
    ├── ResourceExhausted      RESOURCE_EXHAUSTED  rate limit or full queue (retry_after)
    ├── Unavailable            UNAVAILABLE         store down (retry_after)
    └── Internal               INTERNAL            a bug; never a client's fault
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "event-gateway"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field. `field` is the JSON path as the client wrote it (e.g. ``events[2].visitorId``)."""

    field: str
    description: str
    # A machine-readable kind, in the style of pydantic's error types:
    # "missing", "invalid", "type", "too_long", "not_found", ...
    kind: str = "invalid"


class GatewayError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, reason: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        # ErrorInfo.reason: a stable UPPER_SNAKE identifier dialects may branch on.
        self.reason = reason
        self.retry_after = retry_after

    def details(self) -> list[object]:
        """The google.rpc detail messages describing this error."""
        out: list[object] = []
        if self.reason:
            out.append(error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN))
        if self.retry_after is not None:
            seconds = max(0.0, self.retry_after)
            whole = math.floor(seconds)
            out.append(
                error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(
                        seconds=whole, nanos=int(round((seconds - whole) * 1e9)) % 1_000_000_000
                    )
                )
            )
        return out


class InvalidArgument(GatewayError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(
        self, message: str, violations: Sequence[FieldViolation] = (), *, reason: str = ""
    ) -> None:
        super().__init__(message, reason=reason)
        self.violations = tuple(violations)

    def details(self) -> list[object]:
        out = super().details()
        if self.violations:
            out.append(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description, reason=v.kind
                        )
                        for v in self.violations
                    ]
                )
            )
        return out


class NotFound(GatewayError):
    code = grpc.StatusCode.NOT_FOUND


class Unauthenticated(GatewayError):
    """Reasons: CREDENTIALS_MISSING, CREDENTIALS_INVALID, KEY_REVOKED."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(GatewayError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(GatewayError):
    """A rate limit was hit (reason RATE_LIMITED) or the write queue is full (QUEUE_FULL)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(
        self,
        message: str,
        *,
        reason: str = "RATE_LIMITED",
        retry_after: float | None = None,
        quota_violations: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message, reason=reason, retry_after=retry_after)
        self.quota_violations = tuple(quota_violations)

    def details(self) -> list[object]:
        out = super().details()
        if self.quota_violations:
            out.append(
                error_details_pb2.QuotaFailure(
                    violations=[
                        error_details_pb2.QuotaFailure.Violation(subject=s, description=d)
                        for s, d in self.quota_violations
                    ]
                )
            )
        return out


class Unavailable(GatewayError):
    code = grpc.StatusCode.UNAVAILABLE


class Internal(GatewayError):
    code = grpc.StatusCode.INTERNAL


def to_rpc_status(error: GatewayError, *, max_bytes: int | None = None) -> status_pb2.Status:
    """The google.rpc.Status for an error: code, message and packed details.

    `max_bytes` bounds the serialized status, for transports that carry it in headers:
    gRPC clients drop a status whose trailers exceed their metadata limit (8 KiB by
    default) and report RESOURCE_EXHAUSTED instead, which reads as "retry later" for a
    request that can never succeed. Within the bound, the message is cut to
    `MAX_MESSAGE_CHARS` and only the first field violations that fit are kept, the
    message saying how many of how many.
    """
    details = error.details()
    status = _status(error, error.message, details)
    if max_bytes is None or status.ByteSize() <= max_bytes:
        return status
    message = error.message
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    for detail in details:
        if isinstance(detail, error_details_pb2.BadRequest):
            # The note _keep_violations adds to the message is counted in advance.
            excess = _status(error, message, details).ByteSize() + _NOTE_BYTES - max_bytes
            message = _keep_violations(detail, message, excess)
    return _status(error, message, details)


# Leaves the rest of an 8 KiB metadata budget to grpc-message (the message again,
# percent-encoded) and the rate-limit trailers.
MAX_STATUS_BYTES = 3072
MAX_MESSAGE_CHARS = 512
_NOTE_BYTES = 64


def _status(error: GatewayError, message: str, details: Sequence[object]) -> status_pb2.Status:
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)  # type: ignore[arg-type]
        packed.append(holder)
    return status_pb2.Status(code=_RPC_CODE[error.code], message=message, details=packed)


def _keep_violations(bad_request: error_details_pb2.BadRequest, message: str, excess: int) -> str:
    """Drop the last violations until `excess` bytes are saved (excess <= 0: none dropped)."""
    if excess <= 0:
        return message
    total = len(bad_request.field_violations)
    saved = 0
    while bad_request.field_violations and saved < excess:
        # An entry costs its size, a tag byte and its length's varint. (Counting the
        # prefix as one byte undercounted every entry of 128 bytes or more, and with
        # thousands of them all were dropped: "the first 0 of 15000".) The enclosing
        # length prefixes only shrink as well, so this never overstates what was saved.
        size = bad_request.field_violations[-1].ByteSize()
        saved += size + 1 + _varint_bytes(size)
        del bad_request.field_violations[-1]
    kept = len(bad_request.field_violations)
    return f"{message} (the first {kept} of {total} field violations are listed)"


def _varint_bytes(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


_RPC_CODE: dict[grpc.StatusCode, int] = {
    code: code.value[0] for code in grpc.StatusCode  # grpc.StatusCode values are (int, name)
}
