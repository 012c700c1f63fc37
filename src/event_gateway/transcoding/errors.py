"""Failures on the REST side and how they become HTTP responses.

Every failure - one returned by the service and one found by the transcoder itself
(bad JSON, unknown route, body too large) - is an `RpcFailure` carrying a
``google.rpc.Status``. An `ErrorRenderer` turns it into an `HttpResponse`, so an API can
style all of its errors in one place. The default renders grpc-gateway's body:
``{"code": 3, "message": "...", "details": [{"@type": "...", ...}]}``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import grpc
import orjson
from google.protobuf import any_pb2, json_format
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

# Importing registers the google.rpc detail types in the default pool, so Any details
# (BadRequest, ErrorInfo, RetryInfo, QuotaFailure, ...) can be written as JSON.
from google.rpc import error_details_pb2, status_pb2  # noqa: F401

from .status import code_number, http_status_from_code


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete HTTP response: status, headers (lower-case names) and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(slots=True)
class RpcFailure:
    """A failed call as the REST side sees it.

    ``http_status`` is the default status (grpc-gateway's table, or the transcoder's own
    413/415/404/405); a renderer may choose another. ``headers`` are the response headers
    already collected (e.g. rate-limit metadata); renderers should keep them.
    ``method`` is the route's method, or None when no route matched (404/405).
    """

    status: status_pb2.Status
    http_status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    method: MethodDescriptor | None = None


ErrorRenderer = Callable[[RpcFailure], HttpResponse]


def make_failure(
    code: int | grpc.StatusCode,
    message: str,
    *,
    details: Iterable[Message] = (),
    http_status: int | None = None,
    method: MethodDescriptor | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> RpcFailure:
    """An `RpcFailure` from a code, message and detail messages (packed into Any)."""
    number = code_number(code)
    status = status_pb2.Status(code=number, message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return RpcFailure(
        status=status,
        http_status=http_status if http_status is not None else http_status_from_code(number),
        headers=headers if headers is not None else [],
        method=method,
    )


def bad_request(
    field_path: str, description: str, method: MethodDescriptor | None, reason: str = ""
) -> RpcFailure:
    """INVALID_ARGUMENT with one BadRequest field violation, as a client error (400).

    `description` is for people; `reason` is a short machine word ("type", "syntax", ...)
    that error renderers may branch on.
    """
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=field_path, description=description, reason=reason
    )
    message = f"{field_path}: {description}" if field_path else description
    return make_failure(
        grpc.StatusCode.INVALID_ARGUMENT,
        message,
        details=[error_details_pb2.BadRequest(field_violations=[violation])],
        method=method,
    )


def detail_to_json(detail: any_pb2.Any) -> dict[str, object]:
    """One Any detail as proto JSON; types the pool does not know keep their bytes."""
    try:
        return json_format.MessageToDict(detail)
    except (TypeError, KeyError, json_format.Error):
        # Unknown type URL: write what grpc-gateway writes for an unresolvable Any.
        return {"@type": detail.type_url, "value": base64.b64encode(detail.value).decode()}


def status_to_json(status: status_pb2.Status) -> bytes:
    """google.rpc.Status as JSON, details always present (grpc-gateway emits unpopulated)."""
    body = {
        "code": status.code,
        "message": status.message,
        "details": [detail_to_json(detail) for detail in status.details],
    }
    return orjson.dumps(body)


def default_error_renderer(failure: RpcFailure) -> HttpResponse:
    """grpc-gateway's default error body with the failure's default HTTP status."""
    headers = [*failure.headers, ("content-type", "application/json")]
    return HttpResponse(failure.http_status, headers, status_to_json(failure.status))


def default_renderer_for(method: MethodDescriptor | None) -> ErrorRenderer:
    """The default `TranscodingOptions.error_renderer`: one renderer for every method."""
    return default_error_renderer
