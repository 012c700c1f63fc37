"""Errors as the Laravel application behind the storefront API answered them.

422 ``{"message": "<first> (and N more errors)", "errors": {"field": ["..."]}}`` with
Laravel's own English messages; 404 ``{"success": false, "message": ...}`` for a tenant
that is not public; ``{"message": ...}`` otherwise, with Laravel's stock wording for
429/503/500. A beacon method never reports a failure: everything but throttling is
200 ``{"status": "skipped"}``. A 429 carries ThrottleRequests' headers, X-RateLimit-Reset
included.
"""

from __future__ import annotations

import time

import grpc
from google.protobuf import descriptor

from event_gateway.contract import null_when_unset
from event_gateway.dialects import (
    Decoded,
    Violation,
    decode,
    field_at,
    is_overloaded,
    is_rate_limited,
    json_response,
    method_spec,
    path_segments,
)
from event_gateway.transcoding.errors import HttpResponse, RpcFailure

INVALID_JSON = "The request body must be valid JSON."

_F = descriptor.FieldDescriptor
_INTEGER_TYPES = {
    _F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_UINT32, _F.TYPE_UINT64, _F.TYPE_SINT32,
    _F.TYPE_SINT64, _F.TYPE_FIXED32, _F.TYPE_FIXED64, _F.TYPE_SFIXED32, _F.TYPE_SFIXED64,
}
_NUMBER_TYPES = {_F.TYPE_DOUBLE, _F.TYPE_FLOAT}
# Kinds a value of the wrong shape is reported with (servicer or transcoder).
_SHAPE_KINDS = {"type", "invalid", "range"}


def _attribute(key: str) -> str:
    # Laravel's displayable attribute: the input key with underscores as spaces.
    return key.replace("_", " ")


def _key(field: str) -> str:
    # Laravel keys nested input with dots: items.0.product_id.
    return ".".join(str(s) for s in path_segments(field)) or "body"


def _shape_message(attribute: str, field: descriptor.FieldDescriptor) -> str | None:
    if field.enum_type is not None:
        return f"The selected {attribute} is invalid."
    if field.is_repeated or field.message_type is not None:
        return f"The {attribute} field must be an array."
    if field.type in _INTEGER_TYPES:
        return f"The {attribute} field must be an integer."
    if field.type in _NUMBER_TYPES:
        return f"The {attribute} field must be a number."
    if field.type == _F.TYPE_BOOL:
        return f"The {attribute} field must be true or false."
    if field.type == _F.TYPE_STRING:
        return f"The {attribute} field must be a string."
    return None


def message_for(violation: Violation, method: descriptor.MethodDescriptor | None) -> str:
    """Laravel's validation message for one violation."""
    attribute = _attribute(_key(violation.field))
    if violation.kind == "missing":
        return f"The {attribute} field is required."
    if violation.kind == "not_found":  # the `exists` rule
        return f"The selected {attribute} is invalid."
    field = field_at(method, path_segments(violation.field))
    if field is not None and (violation.kind in _SHAPE_KINDS or field.enum_type is not None):
        shaped = _shape_message(attribute, field)
        if shaped is not None:
            return shaped
    return violation.description


def validation_body(decoded: Decoded, method: descriptor.MethodDescriptor | None) -> dict[str, object]:
    errors: dict[str, list[str]] = {}
    for violation in decoded.violations:
        if violation.is_syntax:
            # Laravel would read a malformed body as empty input and list every required
            # field; saying what is actually wrong serves the client better.
            errors.setdefault("body", []).append(INVALID_JSON)
        else:
            errors.setdefault(_key(violation.field), []).append(message_for(violation, method))
    messages = [m for ms in errors.values() for m in ms]
    if not messages:
        return {"message": decoded.message, "errors": {}}
    return {"message": summary(messages), "errors": errors}


def summary(messages: list[str]) -> str:
    """ValidationException::summarize: the first message and how many more."""
    first, rest = messages[0], len(messages) - 1
    if rest == 0:
        return first
    return f"{first} (and {rest} more {'error' if rest == 1 else 'errors'})"


def _skipped(answer: descriptor.Descriptor) -> dict[str, object]:
    # The beacon's answer when nothing could be read: the keys its body always has
    # (null_when_unset: `'transaction_id' => $request->transaction_id`) are null.
    body: dict[str, object] = {"status": "skipped"}
    body.update(dict.fromkeys(f.json_name for f in answer.fields if null_when_unset(f)))
    return body


def reset_header(retry_after: int | None, now: float) -> list[tuple[str, str]]:
    """ThrottleRequests' X-RateLimit-Reset on a 429: the Unix time the client may retry,
    `availableAt($retryAfter)`, so it agrees with the Retry-After beside it."""
    if retry_after is None:
        return []
    return [("x-ratelimit-reset", str(int(now) + retry_after))]


def render(failure: RpcFailure) -> HttpResponse:
    decoded = decode(failure.status)
    spec = method_spec(failure.method)
    if is_rate_limited(decoded):
        headers = [*decoded.retry_after_header(), *reset_header(decoded.retry_after, time.time())]
        return json_response(429, {"message": "Too Many Attempts."}, failure, headers)
    if spec is not None and spec.beacon and failure.http_status != 405:
        # navigator.sendBeacon cannot read the answer and the page must not be disturbed.
        # A wrong method is no beacon (sendBeacon always POSTs): 405 with Allow, as
        # Laravel's router answers it before any controller runs.
        return json_response(200, _skipped(spec.descriptor.output_type), failure)
    if is_overloaded(decoded):
        return json_response(
            503, {"message": "Service Unavailable"}, failure, decoded.retry_after_header()
        )
    return _render_status(decoded, failure)


def _render_status(decoded: Decoded, failure: RpcFailure) -> HttpResponse:
    code = decoded.code
    if code == grpc.StatusCode.INVALID_ARGUMENT and failure.http_status == 400:
        return json_response(422, validation_body(decoded, failure.method), failure)
    if code == grpc.StatusCode.NOT_FOUND:
        return json_response(404, {"success": False, "message": decoded.message}, failure)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return json_response(401, {"message": "Unauthenticated."}, failure)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return json_response(403, {"message": "This action is unauthorized."}, failure)
    if failure.http_status >= 500:
        return json_response(failure.http_status, {"message": "Server Error"}, failure)
    return json_response(failure.http_status, {"message": decoded.message}, failure)
