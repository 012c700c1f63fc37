"""The transcoder's options: everything API-specific it needs, passed in as data.

The defaults give grpc-gateway's behaviour; each field says what changing it does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from google.protobuf.descriptor import MethodDescriptor
from google.rpc.status_pb2 import Status

from .codec import CodecOptions
from .errors import ErrorRenderer, default_renderer_for
from .matcher import MatcherOptions

DEFAULT_INCOMING_HEADERS = frozenset(
    {"authorization", "user-agent", "referer", "x-forwarded-for", "x-forwarded-host", "x-request-id"}
)


def _no_query_metadata(method: MethodDescriptor) -> Mapping[str, str]:
    return {}


def _ok(method: MethodDescriptor) -> int:
    return 200


def _never(method: MethodDescriptor) -> bool:
    return False


def _no_field(method: MethodDescriptor) -> str | None:
    return None


def _no_fields(method: MethodDescriptor) -> tuple[str, ...]:
    return ()


def _no_outgoing_header(key: str) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class TranscodingOptions:
    """Everything API-specific the transcoder needs, passed in as data."""

    codec: CodecOptions = field(default_factory=CodecOptions)
    # A method's own options for reading its request, where they differ from `codec`
    # (say, strict enums for one API); None: `codec` for every method.
    request_codec: Callable[[MethodDescriptor], CodecOptions] | None = None
    matcher: MatcherOptions = field(default_factory=MatcherOptions)
    max_body_bytes: int = 1 << 20
    max_decompressed_bytes: int = 8 << 20
    # Request headers copied to metadata (lower case). Pseudo and hop-by-hop never are.
    incoming_headers: frozenset[str] = DEFAULT_INCOMING_HEADERS
    # Query params that are credentials: param name → metadata key; not bound to fields.
    query_to_metadata: Callable[[MethodDescriptor], Mapping[str, str]] = _no_query_metadata
    success_status: Callable[[MethodDescriptor], int] = _ok
    # Whether an empty or JSON null body is refused (400, reason "missing") instead of
    # read as an empty message (grpc-gateway's reading, the default).
    body_required: Callable[[MethodDescriptor], bool] = _never
    # Fields (proto names) of a `body: "*"` request whose JSON key must be present and
    # not null: 400, reason "missing", at that field. Proto3 cannot tell an absent list
    # or message from an empty one, so this looks at the body again, only when the
    # decoded field is empty (a typo in the key then no longer reads as "nothing sent").
    required_fields: Callable[[MethodDescriptor], tuple[str, ...]] = _no_fields
    # Whether a `body: "*"` request may also come as an HTML form (urlencoded or
    # multipart), read as a JSON object of strings with bracketed names nested (see
    # form.py), for APIs whose framework reads forms. False: 415, as grpc-gateway.
    form_bodies: Callable[[MethodDescriptor], bool] = _never
    # Response metadata key (initial or trailing) → HTTP header name, or None to drop it.
    outgoing_headers: Callable[[str], str | None] = _no_outgoing_header
    error_renderer: Callable[[MethodDescriptor | None], ErrorRenderer] = default_renderer_for
    # grpc-gateway's convention: this response metadata overrides the success status.
    status_override_key: str = "x-http-code"
    # A repeated message field (proto name) of a method's request, with body "*" or the
    # field itself as the body, whose elements are decoded one by one: an element that
    # cannot be decoded no longer fails the request; it is left empty at its index and
    # described to the method in the metadata entry `undecodable_elements_key` (JSON:
    # index, path, reason, detail, value), for APIs that answer for each element of a
    # batch (partial success) or report every element's problems at once.
    tolerant_elements: Callable[[MethodDescriptor], str | None] = _no_field
    undecodable_elements_key: str = "transcoding-undecodable-elements-bin"
    # Whether a `body: "*"` request whose top-level field values cannot be decoded is
    # still dispatched, those fields left unset and described in the metadata entry
    # `undecodable_fields_key` (JSON: path, reason, detail, value), for methods that
    # must answer whatever they are sent (a beacon echoing an id, keeping the rest).
    tolerant_fields: Callable[[MethodDescriptor], bool] = _never
    undecodable_fields_key: str = "transcoding-undecodable-fields-bin"
    # A request refused as malformed (400: its body or query could not be read) is still
    # dispatched, as `dispatch.Refused`, so the interceptors authenticate, rate-limit and
    # observe it as any call; beneath them it is answered with the same refusal. False:
    # answered at once, as grpc-gateway does (nothing behind the transcoder sees it).
    dispatch_refusals: bool = False
    # Asked before a request's body is read: a google.rpc.Status to answer with at once
    # (rendered by the route's renderer; the body is neither read nor decoded, nothing
    # behind the transcoder runs), or None to go on. For load shedding: under overload
    # a refusal must cost far less than the work it refuses. None: no check.
    admission: Callable[[], Status | None] | None = None
