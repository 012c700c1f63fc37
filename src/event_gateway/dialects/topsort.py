"""Errors as Topsort's API answers them: a JSON array of ``{errCode, docUrl, message}``.

400 for any request the gateway refuses (invalid_json when the body is not JSON,
bad_request with one entry per bad field, naming the event and field), 401
invalid_api_key for a missing, wrong or expired key, 429 for rate limits, 5xx for server
problems. Topsort's public error page lists 422 for model mismatches and 403 for key
problems; the gateway keeps 400/401 (RFC 6750 for Bearer tokens, and the same status as
every other refusal of a body) - see docs/apis/topsort.md. The errCode values are
Topsort's, so clients that branch on them behave the same.
"""

from __future__ import annotations

import grpc

from event_gateway.dialects import (
    Decoded,
    Violation,
    decode,
    is_overloaded,
    is_rate_limited,
    json_response,
)
from event_gateway.transcoding.errors import HttpResponse, RpcFailure

DOC_URL = "https://docs.topsort.com/en/api-reference/errors"


def entry(err_code: str, message: str) -> dict[str, str]:
    return {"errCode": err_code, "docUrl": DOC_URL, "message": message}


def _violation_message(violation: Violation) -> str:
    if not violation.field:
        return violation.text
    return f"{violation.field}: {violation.text}"


def render(failure: RpcFailure) -> HttpResponse:
    decoded = decode(failure.status)
    if is_rate_limited(decoded):
        body = [entry("rate_limit_exceeded", "Too many requests; retry later.")]
        return json_response(429, body, failure, decoded.retry_after_header())
    if is_overloaded(decoded):
        body = [entry("service_unavailable", "The service is temporarily unavailable; retry later.")]
        return json_response(503, body, failure, decoded.retry_after_header())
    return _render_status(decoded, failure)


def _render_status(decoded: Decoded, failure: RpcFailure) -> HttpResponse:
    code = decoded.code
    if code == grpc.StatusCode.INVALID_ARGUMENT and failure.http_status == 400:
        return _invalid(decoded, failure)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        body = [entry("invalid_api_key", "The API key is missing, invalid or expired.")]
        return json_response(401, body, failure, [("www-authenticate", "Bearer")])
    if failure.http_status >= 500:
        body = [entry("internal_server_error", "Unexpected server problem.")]
        return json_response(failure.http_status, body, failure)
    return json_response(failure.http_status, [entry("bad_request", decoded.message)], failure)


def _invalid(decoded: Decoded, failure: RpcFailure) -> HttpResponse:
    if any(v.is_syntax for v in decoded.violations):
        return json_response(400, [entry("invalid_json", "The request is not valid JSON.")], failure)
    if not decoded.violations:
        return json_response(400, [entry("bad_request", decoded.message)], failure)
    body = [entry("bad_request", _violation_message(v)) for v in decoded.violations]
    return json_response(400, body, failure)
