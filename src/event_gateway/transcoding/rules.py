"""google.api.http rules → `Route`\\ s → a `PathMatcher`.

A method may have several routes (its rule plus ``additional_bindings``). Each route
keeps the body and response_body selectors resolved to field descriptors, so requests
never look names up again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    FileDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)

from .matcher import MatcherOptions, PathMatcher

_PATTERNS = ("get", "put", "post", "delete", "patch")


class RuleError(ValueError):
    """An http rule that cannot be served (unknown body field, duplicate route, ...)."""


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP binding of one gRPC method."""

    method: MethodDescriptor
    rpc_name: str  # "/pkg.Service/Method", as gRPC names it on the wire
    http_method: str  # upper case; custom kinds kept as written, upper-cased
    template: str
    body: str  # "" (no body), "*" (whole request) or a field path "a.b"
    body_fields: tuple[FieldDescriptor, ...]
    response_body: str
    response_fields: tuple[FieldDescriptor, ...]


def rpc_name(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def http_rule_of(method: MethodDescriptor) -> http_pb2.HttpRule | None:
    """The method's ``google.api.http`` option, or None."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        # Descriptors from a foreign pool may carry the option as unknown fields;
        # re-parsing with google.api.annotations imported resolves it.
        options = descriptor_pb2.MethodOptions.FromString(options.SerializeToString())
        if not options.HasExtension(annotations_pb2.http):
            return None
    return options.Extensions[annotations_pb2.http]


def resolve_field_path(message: Descriptor, path: str) -> tuple[FieldDescriptor, ...]:
    """Fields along a dotted proto-name path; every step but the last must be a message."""
    fields: list[FieldDescriptor] = []
    current: Descriptor | None = message
    for name in path.split("."):
        if current is None:
            raise RuleError(f"{message.full_name}: {path!r} goes through a non-message field")
        found = current.fields_by_name.get(name)
        if found is None:
            raise RuleError(f"{message.full_name} has no field {path!r}")
        fields.append(found)
        is_message = found.type == FieldDescriptor.TYPE_MESSAGE and not _is_repeated(found)
        current = found.message_type if is_message else None
    return tuple(fields)


def _is_repeated(field: FieldDescriptor) -> bool:
    return field.is_repeated


def _pattern(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise RuleError("http rule without a pattern")
    if kind == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    return kind.upper(), getattr(rule, kind)


def _route(method: MethodDescriptor, rule: http_pb2.HttpRule) -> Route:
    http_method, template = _pattern(rule)
    body_fields: tuple[FieldDescriptor, ...] = ()
    if rule.body and rule.body != "*":
        body_fields = resolve_field_path(method.input_type, rule.body)
    response_fields: tuple[FieldDescriptor, ...] = ()
    if rule.response_body:
        response_fields = resolve_field_path(method.output_type, rule.response_body)
    return Route(
        method=method,
        rpc_name=rpc_name(method),
        http_method=http_method,
        template=template,
        body=rule.body,
        body_fields=body_fields,
        response_body=rule.response_body,
        response_fields=response_fields,
    )


def routes_for_method(method: MethodDescriptor) -> list[Route]:
    """The rule's route plus one per additional binding (nested bindings are invalid)."""
    rule = http_rule_of(method)
    if rule is None:
        return []
    routes = [_route(method, rule)]
    for extra in rule.additional_bindings:
        if extra.additional_bindings:
            raise RuleError(f"{rpc_name(method)}: nested additional_bindings")
        routes.append(_route(method, extra))
    return routes


def routes_for_service(service: ServiceDescriptor) -> list[Route]:
    return [route for method in service.methods for route in routes_for_method(method)]


def routes_for_files(files: Iterable[FileDescriptor]) -> list[Route]:
    """Routes of every service, in file and declaration order."""
    return [
        route
        for file in files
        for service in file.services_by_name.values()
        for route in routes_for_service(service)
    ]


def build_matcher(routes: Iterable[Route], options: MatcherOptions) -> PathMatcher:
    """A matcher whose targets are the routes; a rejected registration is an error."""
    matcher = PathMatcher(options)
    for route in routes:
        if not matcher.register(route.http_method, route.template, route):
            raise RuleError(
                f"{route.rpc_name}: cannot register {route.http_method} {route.template}"
            )
    return matcher
