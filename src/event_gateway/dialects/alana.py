"""Errors for the shopper-events API, shaped like its success answer.

Success is ``{"status": "ok", ...}``; an error is
``{"status": "error", "error": "<message>", "code": "<code>"}`` plus, for bad fields,
``"details": [{"field": "events[3].visitorId", "reason": "..."}]``. ``code`` is a stable
snake_case identifier clients may branch on; ``error`` is for humans.
"""

from __future__ import annotations

import grpc

from event_gateway.dialects import (
    Decoded,
    decode,
    is_overloaded,
    is_rate_limited,
    json_response,
)
from event_gateway.transcoding.errors import HttpResponse, RpcFailure

MISSING_KEY = "API key required: send it in the x-api-key header or the key query parameter"
INVALID_KEY = "Invalid API key"

# ErrorInfo reasons raised for this API that deserve their own code.
_REASON_CODES = {"BATCH_TOO_LARGE": "batch_too_large"}


def body(message: str, code: str, details: list[dict[str, str]] | None = None) -> dict[str, object]:
    out: dict[str, object] = {"status": "error", "error": message, "code": code}
    if details:
        out["details"] = details
    return out


def render(failure: RpcFailure) -> HttpResponse:
    decoded = decode(failure.status)
    retry = decoded.retry_after_header()
    if is_rate_limited(decoded):
        return json_response(429, body("Rate limit exceeded", "rate_limited"), failure, retry)
    if is_overloaded(decoded):
        message = "Service temporarily unavailable; nothing was stored, retry later"
        return json_response(503, body(message, "unavailable"), failure, retry)
    return _render_status(decoded, failure)


def _render_status(decoded: Decoded, failure: RpcFailure) -> HttpResponse:
    code = decoded.code
    if code == grpc.StatusCode.INVALID_ARGUMENT and failure.http_status == 400:
        return _invalid(decoded, failure)
    if code == grpc.StatusCode.UNAUTHENTICATED and decoded.reason == "CREDENTIALS_MISSING":
        return json_response(401, body(MISSING_KEY, "missing_api_key"), failure)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        # A key for another API is refused like a wrong key: no scope details leak.
        return json_response(401, body(INVALID_KEY, "invalid_api_key"), failure)
    if failure.http_status >= 500:
        return json_response(failure.http_status, body("Internal error", "internal_error"), failure)
    return json_response(failure.http_status, body(decoded.message, _code_name(code, failure.http_status)), failure)


def _invalid(decoded: Decoded, failure: RpcFailure) -> HttpResponse:
    if any(v.is_syntax for v in decoded.violations):
        return json_response(400, body("Request body is not valid JSON", "invalid_json"), failure)
    details = [{"field": v.field, "reason": v.text} for v in decoded.violations]
    code = _REASON_CODES.get(decoded.reason, "invalid_request")
    message = decoded.message
    if decoded.violations and not decoded.reason:
        # The transcoder's own refusal: its message is "<path>: <one word>".
        message = "; ".join(f"{v.field}: {v.text}" if v.field else v.text for v in decoded.violations)
    return json_response(400, body(message, code, details), failure)


def _code_name(code: grpc.StatusCode, http_status: int) -> str:
    # The transport's own refusals are named by what the client did, not by the gRPC
    # code they travel as (415 would read "invalid_argument", 405 "unimplemented").
    return _HTTP_CODES.get(http_status) or str(code.name).lower()


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
