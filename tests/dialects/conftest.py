"""Failures as the REST side receives them, built from the gateway's own errors."""

from __future__ import annotations

from typing import Any

import orjson

from event_gateway import errors
from event_gateway.contract import default_contract
from event_gateway.transcoding.errors import HttpResponse, RpcFailure, bad_request, make_failure
from event_gateway.transcoding.status import http_status_from_code

ALANA = "/alana.v1.ShopperEventsService/TrackEvents"
TRACK = "/storefront.v1.StorefrontAnalyticsService/Track"
CONVERSION = "/storefront.v1.StorefrontAnalyticsService/Conversion"
INTERACTION = "/storefront.v1.StorefrontAnalyticsService/RecordInteraction"
DEPICT = "/depict.v1.DepictEventsService/CreateEvents"
TOPSORT = "/topsort.v2.TopsortEventsService/ReportEvents"


def descriptor_of(method: str) -> Any:
    spec = default_contract().method(method)
    assert spec is not None, method
    return spec.descriptor


def failure(
    err: errors.GatewayError, method: str | None, headers: list[tuple[str, str]] | None = None
) -> RpcFailure:
    """What the errors interceptor produces for `err`, as the transcoder hands it over."""
    status = errors.to_rpc_status(err)
    return RpcFailure(
        status=status,
        http_status=http_status_from_code(status.code),
        headers=list(headers or []),
        method=descriptor_of(method) if method else None,
    )


def transcoder_bad_body(method: str, path: str, description: str) -> RpcFailure:
    """The transcoder's own 400 for a body it cannot decode (no ErrorInfo, no reason)."""
    return bad_request(path, description, descriptor_of(method))


def body_too_large(method: str) -> RpcFailure:
    import grpc

    return make_failure(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "request body exceeds 1048576 bytes",
        http_status=413,
        method=descriptor_of(method),
    )


def json_of(response: HttpResponse) -> Any:
    assert ("content-type", "application/json") in response.headers
    return orjson.loads(response.body)


def header(response: HttpResponse, name: str) -> str | None:
    values = [v for k, v in response.headers if k == name]
    assert len(values) <= 1, f"{name} repeated: {values}"
    return values[0] if values else None


RATE_LIMITED = errors.ResourceExhausted("rate limited", reason="RATE_LIMITED", retry_after=1.2)
QUEUE_FULL = errors.ResourceExhausted("write queue full", reason="QUEUE_FULL", retry_after=1)
STORE_DOWN = errors.Unavailable("store unavailable", reason="STORE_UNAVAILABLE", retry_after=2.0)
NO_KEY = errors.Unauthenticated("missing credentials", reason="CREDENTIALS_MISSING")
BAD_KEY = errors.Unauthenticated("invalid credentials", reason="CREDENTIALS_INVALID")
WRONG_SCOPE = errors.PermissionDenied("key not valid for this API", reason="API_NOT_ALLOWED")
BUG = errors.Internal("boom: secret detail")
