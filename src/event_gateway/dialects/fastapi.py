"""Errors as a FastAPI (pydantic v2) application answers them.

Validation: 422 ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`` with
pydantic's wording and error types, ``loc`` starting with "body" or "query" as FastAPI
builds it. A missing required credential in the query is FastAPI's 422 for a missing
required query parameter; a bad key is 401 ``{"detail": "Invalid API key"}``; other
failures are ``{"detail": "..."}`` like an HTTPException.
"""

from __future__ import annotations

import grpc
from google.protobuf import descriptor

from event_gateway import contract
from event_gateway.dialects import (
    Decoded,
    Violation,
    body_field,
    decode,
    field_at,
    is_overloaded,
    is_rate_limited,
    json_response,
    method_spec,
    path_segments,
)
from event_gateway.transcoding.errors import HttpResponse, RpcFailure

INVALID_KEY = "Invalid API key"

_F = descriptor.FieldDescriptor
_INTEGER_TYPES = {
    _F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_UINT32, _F.TYPE_UINT64, _F.TYPE_SINT32,
    _F.TYPE_SINT64, _F.TYPE_FIXED32, _F.TYPE_FIXED64, _F.TYPE_SFIXED32, _F.TYPE_SFIXED64,
}

# Kinds a value of the wrong JSON shape is reported with by the transcoder.
_SHAPE_KINDS = {"type", "invalid", "range"}

# pydantic v2 (type, msg) for kinds whose wording does not depend on the field.
_FIXED = {
    "missing": ("missing", "Field required"),
    "string_too_short": ("string_too_short", "String should have at least 1 character"),
}


def _enum_message(enum: descriptor.EnumDescriptor) -> str:
    names = [
        contract.enum_json_value(v) or v.name for v in enum.values if v.number != 0
    ]
    if len(names) == 1:
        return f"Input should be '{names[0]}'"
    return "Input should be " + ", ".join(f"'{n}'" for n in names[:-1]) + f" or '{names[-1]}'"


def _shape_error(field: descriptor.FieldDescriptor, in_list: bool) -> tuple[str, str]:
    """pydantic's error for a value of the wrong JSON type at this field."""
    if field.is_repeated and not in_list:
        return "list_type", "Input should be a valid list"
    if field.enum_type is not None:
        return "enum", _enum_message(field.enum_type)
    if field.message_type is not None:
        return "dict_type", "Input should be a valid dictionary"
    if field.type == _F.TYPE_STRING:
        return "string_type", "Input should be a valid string"
    if field.type in _INTEGER_TYPES:
        return "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
    if field.type in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return "float_parsing", "Input should be a valid number, unable to parse string as a number"
    if field.type == _F.TYPE_BOOL:
        return "bool_parsing", "Input should be a valid boolean, unable to interpret input"
    return "value_error", "Value error"


def location(violation: Violation, method: descriptor.MethodDescriptor | None) -> list[str | int]:
    """FastAPI's loc: ["query", name] or ["body", ...path below the bound body field]."""
    if violation.is_query:
        return ["query", violation.field[1:]]
    segments = path_segments(violation.field)
    bound = body_field(method)
    if bound != "*" and segments[:1] == [bound]:
        segments = segments[1:]
    return ["body", *segments]


def error_item(
    violation: Violation, method: descriptor.MethodDescriptor | None, message: str
) -> dict[str, object]:
    loc = location(violation, method)
    if violation.is_syntax:
        return {"loc": ["body", violation.position(message)], "msg": "JSON decode error", "type": "json_invalid"}
    if violation.kind in _FIXED:
        kind, msg = _FIXED[violation.kind]
        return {"loc": loc, "msg": msg, "type": kind}
    if violation.kind == "enum" and violation.description.startswith("Input should be"):
        return {"loc": loc, "msg": violation.description, "type": "enum"}
    segments = path_segments(violation.field.lstrip("?"))
    field = field_at(method, segments) if violation.kind in _SHAPE_KINDS else None
    if field is not None:
        kind, msg = _shape_error(field, in_list=bool(segments) and isinstance(segments[-1], int))
        return {"loc": loc, "msg": msg, "type": kind}
    return {"loc": loc, "msg": violation.description, "type": violation.kind or "value_error"}


def _credential_loc(method: descriptor.MethodDescriptor | None) -> list[str]:
    """Where FastAPI would report the API's missing credential parameter."""
    spec = method_spec(method)
    for credential in spec.api.credentials if spec is not None else ():
        if credential.location == contract.CredentialLocation.CREDENTIAL_LOCATION_QUERY:
            return ["query", credential.name]
        if credential.location == contract.CredentialLocation.CREDENTIAL_LOCATION_HEADER:
            return ["header", credential.name]
    return ["query", "api_key"]


def render(failure: RpcFailure) -> HttpResponse:
    decoded = decode(failure.status)
    if is_rate_limited(decoded):
        return json_response(429, {"detail": "Too Many Requests"}, failure, decoded.retry_after_header())
    if is_overloaded(decoded):
        return json_response(503, {"detail": "Service Unavailable"}, failure, decoded.retry_after_header())
    return _render_status(decoded, failure)


def _render_status(decoded: Decoded, failure: RpcFailure) -> HttpResponse:
    code = decoded.code
    if code == grpc.StatusCode.INVALID_ARGUMENT and failure.http_status == 400:
        violations = decoded.violations or (Violation("", decoded.message, "value_error"),)
        detail = [error_item(v, failure.method, decoded.message) for v in violations]
        return json_response(422, {"detail": detail}, failure)
    if code == grpc.StatusCode.UNAUTHENTICATED and decoded.reason == "CREDENTIALS_MISSING":
        missing = {"loc": _credential_loc(failure.method), "msg": "Field required", "type": "missing"}
        return json_response(422, {"detail": [missing]}, failure)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        # A key for another API is as invalid here as a wrong one: no scope details leak.
        return json_response(401, {"detail": INVALID_KEY}, failure)
    if failure.http_status >= 500:
        return json_response(failure.http_status, {"detail": "Internal Server Error"}, failure)
    return json_response(failure.http_status, {"detail": decoded.message}, failure)
