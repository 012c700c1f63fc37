"""REST error renderers, one per API style: alana, laravel, fastapi, topsort.

Each dialect module exposes ``render(failure: RpcFailure) -> HttpResponse``. They all
start from the same decoded google.rpc.Status (`decode`), so a dialect only decides
the HTTP status and the body. `renderer_for(name)` picks one by the API's
``error_dialect`` option.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
from google.api import annotations_pb2
from google.protobuf import descriptor
from google.rpc import error_details_pb2, status_pb2

from event_gateway import contract
from event_gateway.dialects import laravel_input
from event_gateway.transcoding.errors import ErrorRenderer, HttpResponse, RpcFailure

__all__ = [
    "Decoded",
    "Violation",
    "decode",
    "json_response",
    "method_spec",
    "path_segments",
    "renderer_for",
    "request_reading",
    "RequestReading",
    "body_field",
    "field_at",
    "is_overloaded",
    "is_rate_limited",
]

# The transcoder's DecodeError reasons, written as the violation's description when the
# violation itself carries no reason.
_TRANSCODER_REASONS = frozenset({"type", "invalid", "syntax", "depth", "duplicate", "range"})
_CHAR_POSITION = re.compile(r"char (\d+)")
# Human wording for the transcoder's one-word reasons, for dialects that show the text.
_REASON_TEXT = {
    "type": "has the wrong JSON type",
    "invalid": "is not a valid value",
    "range": "is out of range",
    "depth": "is nested too deeply",
    "duplicate": "is a duplicate key",
    "syntax": "is not valid JSON",
}


@dataclass(frozen=True, slots=True)
class Violation:
    field: str  # as the transcoder/servicer wrote it: "events[0].tenant", "?api_key", ""
    description: str
    kind: str  # "missing", "invalid", "type", "syntax", ...; "" when unknown

    @property
    def is_query(self) -> bool:
        return self.field.startswith("?")

    @property
    def is_syntax(self) -> bool:
        """The body is not JSON at all (the root cannot be read)."""
        return self.kind == "syntax" or (not self.field and not self.kind)

    @property
    def text(self) -> str:
        """The description, with the transcoder's one-word reasons spelled out."""
        return _REASON_TEXT.get(self.description, self.description)

    def position(self, fallback: str = "") -> int:
        """Character offset of a JSON syntax error when the message gives one, else 0."""
        found = _CHAR_POSITION.search(self.description) or _CHAR_POSITION.search(fallback)
        return int(found.group(1)) if found else 0


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a dialect needs from a google.rpc.Status."""

    code: grpc.StatusCode
    message: str
    reason: str
    violations: tuple[Violation, ...]
    retry_after: int | None  # whole seconds, rounded up

    def retry_after_header(self) -> list[tuple[str, str]]:
        return [] if self.retry_after is None else [("retry-after", str(self.retry_after))]


def is_rate_limited(decoded: Decoded) -> bool:
    return decoded.code == grpc.StatusCode.RESOURCE_EXHAUSTED and decoded.reason == "RATE_LIMITED"


def is_overloaded(decoded: Decoded) -> bool:
    """The store is down or the write queue is full: nothing was stored, retry later (503).

    A full queue is RESOURCE_EXHAUSTED on gRPC, but for HTTP clients it is the server's
    condition, not their quota, so it is 503 like an unavailable store.
    """
    if decoded.code == grpc.StatusCode.UNAVAILABLE:
        return True
    return decoded.code == grpc.StatusCode.RESOURCE_EXHAUSTED and decoded.reason == "QUEUE_FULL"


def _code(number: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN


def _violation(raw: error_details_pb2.BadRequest.FieldViolation) -> Violation:
    kind = raw.reason
    if not kind and raw.description in _TRANSCODER_REASONS:
        kind = raw.description
    return Violation(raw.field, raw.description, kind)


def decode(status: status_pb2.Status) -> Decoded:
    reason = ""
    violations: list[Violation] = []
    retry_after: int | None = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = reason or info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend(_violation(v) for v in bad.field_violations)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info_retry = error_details_pb2.RetryInfo()
            detail.Unpack(info_retry)
            delay = info_retry.retry_delay.seconds + info_retry.retry_delay.nanos / 1e9
            retry_after = max(0, math.ceil(delay))
    return Decoded(_code(status.code), status.message, reason, tuple(violations), retry_after)


def json_response(
    status: int, body: object, failure: RpcFailure, extra: Sequence[tuple[str, str]] = ()
) -> HttpResponse:
    """A JSON response keeping the headers already collected (rate-limit counters...)."""
    names = {name for name, _ in extra} | {"content-type"}
    kept = [(k, v) for k, v in failure.headers if k.lower() not in names]
    headers = [*kept, *extra, ("content-type", "application/json")]
    return HttpResponse(status, headers, orjson.dumps(body))


def method_spec(method: descriptor.MethodDescriptor | None) -> contract.MethodSpec | None:
    """The contract's view of a method (beacon, credentials...), read off its descriptor."""
    if method is None:
        return None
    service = method.containing_service
    return contract.read_contract([service]).method(f"/{service.full_name}/{method.name}")


def body_field(method: descriptor.MethodDescriptor | None) -> str:
    """The request field the REST body is bound to ("" or "*" for the whole message)."""
    if method is None:
        return "*"
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    return rule.body or "*"


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_segments(path: str) -> list[str | int]:
    """ "events[0].tenant" -> ["events", 0, "tenant"]."""
    out: list[str | int] = []
    for name, index in _SEGMENT.findall(path):
        out.append(int(index) if index else name)
    return out


def field_at(
    method: descriptor.MethodDescriptor | None, segments: Sequence[str | int]
) -> descriptor.FieldDescriptor | None:
    """The field a violation path names (by JSON or proto name), or None."""
    if method is None:
        return None
    message: descriptor.Descriptor | None = method.input_type
    found: descriptor.FieldDescriptor | None = None
    for segment in segments:
        if isinstance(segment, int):
            continue
        if message is None:
            return None
        found = _field_named(message, segment)
        if found is None:
            return None
        message = found.message_type
    return found


def _field_named(message: descriptor.Descriptor, name: str) -> descriptor.FieldDescriptor | None:
    for field in message.fields:
        if name in (field.json_name, field.name):
            return field
    return None


@dataclass(frozen=True, slots=True)
class RequestReading:
    """How the original framework reads a REST request, where it differs from ProtoJSON."""

    # Enums are strings checked against the allowed values (pydantic's Enum fields,
    # Laravel's `in:` rule): a number or another spelling is invalid, an unknown value
    # is invalid rather than missing.
    strict_enums: bool = False
    # A missing or null body is an error (FastAPI's required body parameter), not an
    # empty message.
    body_required: bool = False
    # Each element of the request's batch (its one repeated message field) is read on
    # its own: one the codec cannot read fails only itself (the API's partial success)
    # or is reported beside the other elements' problems, never hiding them.
    per_element: bool = False
    # The batch (the per_element field) must be sent: a body without it (`{}`, a
    # misspelt key, an empty body) is refused instead of stored as nothing at all.
    batch_required: bool = False
    # The framework's input middleware, on the parsed body before it is read
    # (`CodecOptions.clean_input`): Laravel trims strings and reads "" as null, so
    # `"type": " call "` is `call` and `"type": ""` a missing type, not an invalid one.
    clean_input: Callable[[Any], Any] | None = None
    # A JSON array stands for an object where the contract has a Struct
    # (`CodecOptions.arrays_as_structs`): PHP's json_decode reads `[]` and `{}` into one
    # kind of array, which Laravel's `array` rule accepts either way.
    arrays_as_structs: bool = False
    # Every field's problem is reported at once (Laravel's validator): a top-level field
    # the codec cannot read does not refuse the request; it is left out and described to
    # the method (`TranscodingOptions.tolerant_fields`), which reports it beside the
    # problems it finds itself.
    every_field: bool = False
    # HTML forms are read as well as JSON (Laravel's `$request->input()` reads both), so
    # a beacon sent with FormData or URLSearchParams is understood.
    form_bodies: bool = False


_READINGS = {
    # pydantic lists every element's errors: elements are read one by one, so an
    # undecodable one does not hide the others' problems.
    "fastapi": RequestReading(strict_enums=True, body_required=True, per_element=True),
    "laravel": RequestReading(
        strict_enums=True,
        clean_input=laravel_input.clean,
        arrays_as_structs=True,
        every_field=True,
        form_bodies=True,
    ),
    "alana": RequestReading(strict_enums=True, per_element=True, body_required=True, batch_required=True),
}


def request_reading(dialect_name: str) -> RequestReading:
    return _READINGS.get(dialect_name, RequestReading())


def renderer_for(dialect_name: str) -> ErrorRenderer | None:
    """The renderer of a dialect, or None for the default (google.rpc.Status JSON)."""
    from event_gateway.dialects import alana, fastapi, laravel, topsort

    renderers: dict[str, ErrorRenderer] = {
        "alana": alana.render,
        "laravel": laravel.render,
        "fastapi": fastapi.render,
        "topsort": topsort.render,
    }
    return renderers.get(dialect_name)
