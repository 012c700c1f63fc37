"""`TranscodingApp`: an ASGI app that serves google.api.http routes through a Dispatcher.

Per request: match the route, turn headers (allow-listed) and credential query params
into metadata, build the request message from path variables, body and query, call the
dispatcher, and write the response (or render the failure with the route's renderer).
Everything that does not depend on the request is computed once per route in `_Plan`.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from typing import Any

import grpc
import orjson
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from .body import (
    BodyError,
    BodyLimits,
    ClientDisconnected,
    check_content_encoding,
    check_media_type,
    read_body,
)
from .codec import ElementFailure, MessageCodec, parse_json
from .codec_scalar import DecodeError
from .context import format_peer
from .dispatch import CallOutcome, Dispatcher, Refused
from .errors import (
    ErrorRenderer,
    HttpResponse,
    RpcFailure,
    bad_request,
    default_error_renderer,
    make_failure,
)
from .form import FormError, read_form
from .matcher import PercentDecodingError, parse_query
from .options import TranscodingOptions
from .query import QueryParameterError, set_query_parameter
from .rules import Route, build_matcher
from .status import http_status_from_code
from .template import parse_template

logger = logging.getLogger(__name__)

# Never metadata, whatever the allow-list says: connection-level (RFC 9110 §7.6.1) or
# reserved by gRPC's own transport.
_NEVER_FORWARDED = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
     "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "content-type",
     "grpc-timeout", "grpc-encoding", "grpc-accept-encoding"}
)


# Marks a metadata key whose header name is not known yet (None means "no header").
_UNSEEN = object()
# The value an undecodable element or field is described with when it is nested too
# deeply to be written back as JSON (see _describe).
TOO_DEEP_TO_KEEP = "<not kept: nested more than 255 levels deep>"


class _Plan:
    """What a route needs per request, computed once."""

    __slots__ = (
        "route", "request_class", "request_codec", "response_codec", "renderer",
        "success_status", "credential_params", "bound", "body_keys", "query_fields",
        "use_proto_names", "streaming", "body_required", "tolerant_field", "required_fields",
        "form_bodies", "tolerant_fields",
    )

    def __init__(self, route: Route, options: TranscodingOptions) -> None:
        method = route.method
        self.route = route
        self.streaming = method.client_streaming or method.server_streaming
        self.request_class = message_factory.GetMessageClass(method.input_type)
        request_options = options.request_codec(method) if options.request_codec else options.codec
        self.request_codec = MessageCodec.for_descriptor(method.input_type, request_options)
        self.response_codec = MessageCodec.for_descriptor(method.output_type, options.codec)
        self.renderer = options.error_renderer(method)
        self.success_status = options.success_status(method)
        self.body_required = options.body_required(method)
        self.credential_params = dict(options.query_to_metadata(method))
        variables = parse_template(route.template).variables
        bound = {variable.field_path for variable in variables}
        if route.body_fields:
            bound.add(tuple(f.name for f in route.body_fields))
        self.bound = frozenset(bound)
        self.use_proto_names = use_proto = options.codec.use_proto_names
        # The body is decoded as {"a": {"b": <body>}} so errors carry request-relative paths.
        self.body_keys = tuple(f.name if use_proto else f.json_name for f in route.body_fields)
        self.query_fields: dict[str, tuple[str, ...] | None] = {}
        self.tolerant_field = _tolerant_field(method, options, route)
        fields = method.input_type.fields_by_name
        self.required_fields = tuple(
            fields[name] for name in options.required_fields(method) if name in fields and route.body == "*"
        )
        self.form_bodies = route.body == "*" and options.form_bodies(method)
        self.tolerant_fields = route.body == "*" and options.tolerant_fields(method)

    def query_field(self, name: str) -> tuple[str, ...] | None:
        """Proto-name path of a query param, or None to ignore it (unknown or bound)."""
        cached = self.query_fields.get(name, False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        path = _resolve_query_name(self.route.method.input_type, name)
        if path is not None and any(path[: len(b)] == b for b in self.bound):
            path = None
        if len(self.query_fields) < 1024:  # names come from clients; keep the cache bounded
            self.query_fields[name] = path
        return path


def _tolerant_field(
    method: MethodDescriptor, options: TranscodingOptions, route: Route
) -> FieldDescriptor | None:
    name = options.tolerant_elements(method)
    found = method.input_type.fields_by_name.get(name) if name else None
    if found is None or route.body not in ("*", found.name):
        return None
    if not found.is_repeated or found.message_type is None:
        return None
    return found


def _resolve_query_name(message: Descriptor, name: str) -> tuple[str, ...] | None:
    """Map ``a.bC.d`` (proto or JSON names) to proto names; None when a name is unknown."""
    path: list[str] = []
    current: Descriptor | None = message
    for part in name.split("."):
        if current is None:
            path.append(part)  # through a scalar: let set_query_parameter report it
            continue
        found = current.fields_by_name.get(part) or _by_json_name(current, part)
        if found is None:
            return None
        path.append(found.name)
        current = found.message_type if found.type == FieldDescriptor.TYPE_MESSAGE else None
    return tuple(path)


def _by_json_name(message: Descriptor, name: str) -> FieldDescriptor | None:
    for candidate in message.fields:
        if candidate.json_name == name:
            return candidate
    return None


class TranscodingApp:
    """ASGI 3 application serving every route through one dispatcher."""

    def __init__(
        self, routes: Iterable[Route], dispatcher: Dispatcher, options: TranscodingOptions | None = None
    ) -> None:
        self.options = options = options or TranscodingOptions()
        routes = list(routes)
        self._dispatcher = dispatcher
        self._plans = {id(route): _Plan(route, options) for route in routes}
        self._matcher = build_matcher(routes, options.matcher)
        self._limits = BodyLimits(options.max_body_bytes, options.max_decompressed_bytes)
        self._incoming = frozenset(
            name.lower().encode("latin-1")
            for name in options.incoming_headers
            if not name.startswith(":") and name.lower() not in _NEVER_FORWARDED
        )
        self._outgoing_names: dict[str, str | None] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        # The matcher wants the raw target as UTF-8 text (its escapes decode to UTF-8).
        path = raw_path.partition(b"?")[0].decode("utf-8", "replace")
        try:
            match = self._matcher.lookup(scope["method"], path)
        except PercentDecodingError as err:
            failure = make_failure(grpc.StatusCode.INVALID_ARGUMENT, str(err), http_status=400)
            await _send(send, default_error_renderer(failure))
            return
        if match is None:
            await _send(send, self._routing_failure(path))
            return
        plan: _Plan = self._plans[id(match.target)]
        try:
            response = await self._handle(plan, match.path_bindings, scope, receive)
        except ClientDisconnected:
            return
        except Exception:
            logger.exception("transcoding %s %s failed", scope["method"], path)
            failure = make_failure(grpc.StatusCode.INTERNAL, "internal error", method=plan.route.method)
            response = _render(plan.renderer, failure)
        await _send(send, response)

    def _routing_failure(self, path: str) -> HttpResponse:
        """404 when no route has the path, in the default style; 405 when only the
        method is wrong, in the style of a route that has the path, since its API is
        known (the first of the allowed methods, sorted, so the choice is stable)."""
        allowed = sorted(set(self._matcher.allowed_methods(path)))
        if not allowed:
            return default_error_renderer(
                make_failure(grpc.StatusCode.NOT_FOUND, "Not Found", http_status=404)
            )
        match = self._matcher.lookup(allowed[0], path)
        plan = self._plans[id(match.target)] if match is not None else None
        failure = make_failure(
            grpc.StatusCode.UNIMPLEMENTED,
            "Method Not Allowed",
            http_status=405,
            headers=[("allow", ", ".join(allowed))],
            method=plan.route.method if plan is not None else None,
        )
        return _render(plan.renderer, failure) if plan is not None else default_error_renderer(failure)

    async def _handle(
        self, plan: _Plan, bindings: Any, scope: dict[str, Any], receive: Any
    ) -> HttpResponse:
        method = plan.route.method
        if plan.streaming:
            # Streaming is not transcoded (yet): answer as grpc.aio answers an unknown kind.
            return _render(plan.renderer, make_failure(
                grpc.StatusCode.UNIMPLEMENTED, "streaming methods are not transcoded", method=method
            ))
        admission = self.options.admission
        if admission is not None and (refusal := admission()) is not None:
            return _render(plan.renderer, RpcFailure(refusal, http_status_from_code(refusal.code), [], method))
        metadata: list[tuple[str, Any]] = []
        content_type = content_length = content_encoding = None
        query: list[tuple[str, str]] = []
        incoming = self._incoming
        for name, value in scope["headers"]:
            if name in incoming:
                metadata.append((name.decode("latin-1"), value.decode("latin-1")))
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                content_length = value
            elif name == b"content-encoding":
                content_encoding = value
        try:
            query = self._split_query(scope.get("query_string", b""))
            request = plan.request_class()
            if plan.route.body:
                form = check_media_type(content_type, forms=plan.form_bodies)
                gzipped = check_content_encoding(content_encoding)
                length = int(content_length) if content_length and content_length.isdigit() else None
                raw = await read_body(receive, length, gzipped, self._limits)
                if form is not None:
                    raw = _form_as_json(raw, form, content_type)  # type: ignore[arg-type]
                request = self._decode_body(plan, raw, metadata)
            failure = _bind(plan, request, bindings, query, metadata)
        except _BadBody as err:
            failure = bad_request(err.path, err.message, method, err.reason)
        except PercentDecodingError as err:
            failure = bad_request("?" + err.name, str(err), method, "invalid")
            # The other parameters still count: a credential among them authenticates
            # the refusal, so the client hears about `err.name`, not of a missing key.
            query = self._split_query(scope.get("query_string", b""), skip_undecodable=True)
        except BodyError as err:
            failure = make_failure(err.code, err.message, http_status=err.http_status, method=method)
        if failure is not None:
            # Only a malformed request (400) is handed on: 413 and 415 are INVALID_ARGUMENT
            # too, but their HTTP status would not survive the trip as a bare status.
            if (
                not self.options.dispatch_refusals
                or failure.status.code != _INVALID_ARGUMENT
                or failure.http_status != 400
            ):
                return _render(plan.renderer, failure)
            request = Refused(failure.status)
            metadata = _headers_and_credentials(plan, metadata, query)
        client = scope.get("client") or (None, None)
        outcome = await self._dispatcher.call(
            plan.route.rpc_name, request, tuple(metadata), format_peer(client[0], client[1])
        )
        return self._respond(plan, outcome)

    def _decode_body(self, plan: _Plan, raw: bytes, metadata: list[tuple[str, Any]]) -> Message:
        if not raw.strip():
            if plan.body_required:
                raise _MissingBody()
            return plan.request_class()  # an empty body is an empty object
        try:
            if not plan.body_keys:
                try:
                    request = plan.request_codec.decode(raw)
                except DecodeError as err:
                    if plan.body_required and raw.strip() == b"null":
                        raise _MissingBody() from None
                    # Only after a failure: the usual request pays nothing for these.
                    if _inside(err.path, plan.tolerant_field):
                        request = self._decode_elements(plan, parse_json(raw), metadata)
                    elif plan.tolerant_fields and err.path:
                        request = self._decode_fields(plan, parse_json(raw), metadata)
                    else:
                        raise
                if plan.required_fields:
                    _require(plan.required_fields, request, raw, plan.use_proto_names)
                return request
            value: Any = parse_json(raw)
            if value is None and plan.body_required:
                raise _MissingBody()
            for key in reversed(plan.body_keys):
                value = {key: value}
            try:
                return plan.request_codec.decode_value(value)
            except DecodeError as err:
                if not _inside(err.path, plan.tolerant_field):
                    raise
            return self._decode_elements(plan, value, metadata)
        except ValueError as err:  # DecodeError, orjson.JSONDecodeError
            detail = getattr(err, "detail", None) or str(err)
            raise _BadBody(getattr(err, "path", ""), getattr(err, "reason", "syntax"), detail) from err

    def _decode_elements(self, plan: _Plan, value: Any, metadata: list[tuple[str, Any]]) -> Message:
        """The request read element by element (`TranscodingOptions.tolerant_elements`),
        its undecodable elements described in `metadata`."""
        request, failures = plan.request_codec.decode_elements(value, plan.tolerant_field)  # type: ignore[arg-type]
        metadata.append((self.options.undecodable_elements_key, _describe(failures)))
        return request

    def _decode_fields(self, plan: _Plan, value: Any, metadata: list[tuple[str, Any]]) -> Message:
        """The request without its undecodable top-level fields (`tolerant_fields`),
        which are described in `metadata`."""
        request, failures = plan.request_codec.decode_fields(value)
        metadata.append((self.options.undecodable_fields_key, _describe(failures)))
        return request

    def _respond(self, plan: _Plan, outcome: CallOutcome) -> HttpResponse:
        headers: list[tuple[str, str]] = []
        status_code = plan.success_status
        override_key = self.options.status_override_key
        known = self._outgoing_names
        for key, value in (*outcome.initial_metadata, *outcome.trailing_metadata):
            if key == override_key:
                status_code = _status_override(value, status_code)
                continue
            # The dict first, inline: this runs for every metadata entry of every call.
            name = known.get(key, _UNSEEN)
            if name is _UNSEEN:
                name = self._outgoing_name(key)
            if name is not None:
                text = base64.b64encode(value).decode() if isinstance(value, bytes) else value
                headers.append((name, text))
        if outcome.status is not None:
            failure = RpcFailure(
                outcome.status, http_status_from_code(outcome.status.code), headers, plan.route.method
            )
            return _render(plan.renderer, failure)
        if status_code == 204:
            return HttpResponse(204, headers, b"")
        headers.append(("content-type", "application/json"))
        return HttpResponse(status_code, headers, _encode_response(plan, outcome.response))

    def _split_query(self, query_string: bytes, skip_undecodable: bool = False) -> list[tuple[str, str]]:
        if not query_string:
            return []
        options = self.options.matcher
        return parse_query(
            query_string.decode("latin-1"),
            unescape_plus=options.query_param_unescape_plus,
            system_params=options.system_params,
            skip_undecodable=skip_undecodable,
        )

    def _outgoing_name(self, key: str) -> str | None:
        name = self.options.outgoing_headers(key)
        if len(self._outgoing_names) < 1024:
            self._outgoing_names[key] = name
        return name


_INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


def _headers_and_credentials(
    plan: _Plan, metadata: list[tuple[str, Any]], query: list[tuple[str, str]]
) -> list[tuple[str, Any]]:
    """The metadata a refused request is dispatched with: its headers and its query
    credentials (so it is authenticated like any call), nothing decoding may have added."""
    kept = [(key, value) for key, value in metadata if isinstance(value, str)]
    names = {key for key, _ in kept}
    for name, value in query:
        key = plan.credential_params.get(name)
        if key is not None and key not in names:
            kept.append((key, value))
            names.add(key)
    return kept


def _inside(path: str, field_: FieldDescriptor | None) -> bool:
    """Whether a decoding error's path lies within an element of `field_`."""
    return field_ is not None and path.startswith((f"{field_.json_name}[", f"{field_.name}["))


def _describe(failures: Iterable[ElementFailure]) -> bytes:
    described = [
        {"index": f.index, "path": f.path, "reason": f.reason, "detail": f.detail, "value": f.value}
        for f in failures
    ]
    try:
        return orjson.dumps(described)
    except orjson.JSONEncodeError:
        # orjson reads 1,024 levels of nesting but writes 255: a value nested deeper
        # (only a hostile client sends one) is described by that fact alone, so that
        # its element is still refused alone, not the request with a 500.
        for item in described:
            try:
                orjson.dumps(item)
            except orjson.JSONEncodeError:
                item["value"] = TOO_DEEP_TO_KEEP
        return orjson.dumps(described)


def _form_as_json(raw: bytes, media: bytes, content_type: bytes) -> bytes:
    # Forms are rare here: reading them as JSON text keeps one decoding path.
    try:
        return orjson.dumps(read_form(raw, media, content_type))
    except FormError as err:
        raise _BadBody("", "syntax", str(err)) from err


class _BadBody(BodyError):
    def __init__(self, path: str, reason: str, detail: str) -> None:
        super().__init__(400, grpc.StatusCode.INVALID_ARGUMENT, detail)
        self.path = path
        self.reason = reason


class _MissingBody(_BadBody):
    """An empty or null body where `body_required` says one must be sent."""

    def __init__(self) -> None:
        super().__init__("", "missing", "request body is required")


def _require(fields: tuple[FieldDescriptor, ...], request: Message, raw: bytes, proto_names: bool) -> None:
    """Refuse a body that leaves out a required field (present and not null)."""
    body: Any = None
    for field_ in fields:
        if field_.is_repeated:
            empty = not getattr(request, field_.name)
        elif field_.has_presence:
            empty = not request.HasField(field_.name)
        else:
            empty = getattr(request, field_.name) == field_.default_value
        if not empty:
            continue
        if body is None:
            body = parse_json(raw)
        if not isinstance(body, dict) or all(body.get(k) is None for k in (field_.json_name, field_.name)):
            name = field_.name if proto_names else field_.json_name
            raise _BadBody(name, "missing", "required field is missing")


def _bind(
    plan: _Plan,
    request: Message,
    bindings: Any,
    query: list[tuple[str, str]],
    metadata: list[tuple[str, str]],
) -> RpcFailure | None:
    """Apply path variables then query params to ``request``; a failure for a bad value."""
    method = plan.route.method
    for field_path, value in bindings:
        try:
            set_query_parameter(request, tuple(field_path), value)
        except (QueryParameterError, ValueError) as err:
            return bad_request(".".join(field_path), getattr(err, "problem", str(err)), method)
    credentials = plan.credential_params
    skip_fields = plan.route.body == "*"
    for name, value in query:
        key = credentials.get(name)
        if key is not None:
            metadata.append((key, value))
            continue
        if skip_fields:
            continue
        field_path = plan.query_field(name)
        if field_path is None:
            continue  # unknown or bound elsewhere: ignored, as grpc-gateway does
        try:
            set_query_parameter(request, field_path, value)
        except (QueryParameterError, ValueError) as err:
            return bad_request("?" + name, getattr(err, "problem", str(err)), method)
    return None


def _encode_response(plan: _Plan, response: Message | None) -> bytes:
    if response is None:
        return b"{}"
    if not plan.route.response_fields:
        return plan.response_codec.encode(response)
    value: Any = plan.response_codec.encode_value(response)
    for field_ in plan.route.response_fields:
        key = field_.name if plan.use_proto_names else field_.json_name
        value = value.get(key) if isinstance(value, dict) else None
    return orjson.dumps(value if value is not None else _zero(plan.route.response_fields[-1]))


def _zero(field_: FieldDescriptor) -> Any:
    """JSON of an unset field when the codec left it out (emit_unpopulated off)."""
    if field_.is_repeated:
        return {} if field_.message_type and field_.message_type.GetOptions().map_entry else []
    if field_.type == FieldDescriptor.TYPE_MESSAGE:
        return {}
    if field_.type == FieldDescriptor.TYPE_BOOL:
        return False
    if field_.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        return ""
    if field_.type == FieldDescriptor.TYPE_ENUM:
        return field_.enum_type.values[0].name
    if field_.cpp_type in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return "0"
    return 0


def _status_override(value: str | bytes, current: int) -> int:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return int(text) if text.isdigit() and 100 <= int(text) <= 599 else current


def _render(renderer: ErrorRenderer, failure: RpcFailure) -> HttpResponse:
    try:
        return renderer(failure)
    except Exception:
        # A broken dialect must not turn a client error into a dropped connection.
        logger.exception("error renderer failed; using the default")
        return default_error_renderer(failure)


async def _send(send: Any, response: HttpResponse) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if response.status != 204:  # RFC 9110 §8.6: never a Content-Length on a 204
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(receive: Any, send: Any) -> None:
    """Nothing to start or stop; answered so uvicorn can run the app on its own."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
