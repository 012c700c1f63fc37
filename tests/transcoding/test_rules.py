from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from echo_support import compile_echo

from event_gateway.transcoding.matcher import MatcherOptions
from event_gateway.transcoding.rules import (
    RuleError, build_matcher, resolve_field_path, routes_for_files, routes_for_service,
)


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    return compile_echo(tmp_path_factory.mktemp("echo_rules"))


def service(echo: Any) -> Any:
    return echo[0].DESCRIPTOR.services_by_name["Echo"]


def test_rule_and_additional_bindings(echo: Any) -> None:
    routes = [r for r in routes_for_service(service(echo)) if r.method.name == "Echo"]
    assert [(r.http_method, r.template, r.body) for r in routes] == [
        ("POST", "/v1/echo/{name}", "*"),
        ("GET", "/v1/echo/{name}", ""),
        ("POST", "/v1/parents/{parent.id}/items:shout", "item"),
    ]
    assert routes[0].rpc_name == "/echo.v1.Echo/Echo"
    assert [f.name for f in routes[2].body_fields] == ["item"]


def test_repeated_body_and_response_body(echo: Any) -> None:
    (batch,) = [r for r in routes_for_service(service(echo)) if r.method.name == "Batch"]
    assert batch.body == "items" and batch.body_fields[0].is_repeated
    assert batch.response_body == "items"
    assert batch.response_fields[0].name == "items"


def test_routes_for_files_and_matcher(echo: Any) -> None:
    routes = routes_for_files([echo[0].DESCRIPTOR])
    matcher = build_matcher(routes, MatcherOptions())
    match = matcher.lookup("GET", "/v1/files/a/b/content")
    assert match is not None and match.target.method.name == "Files"
    assert matcher.allowed_methods("/v1/echo/x") == {"GET", "POST"}


def test_unknown_field_paths_are_rule_errors(echo: Any) -> None:
    request = echo[0].EchoRequest.DESCRIPTOR
    assert [f.name for f in resolve_field_path(request, "parent.id")] == ["parent", "id"]
    with pytest.raises(RuleError):
        resolve_field_path(request, "nope")
    with pytest.raises(RuleError):
        resolve_field_path(request, "text.deeper")


def test_methods_without_rules_have_no_routes(tmp_path: Path) -> None:
    file = descriptor_pb2.FileDescriptorProto(name="plain.proto", package="plain", syntax="proto3")
    file.message_type.add(name="M")
    svc = file.service.add(name="S")
    svc.method.add(name="Call", input_type=".plain.M", output_type=".plain.M")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    assert routes_for_files([pool.FindFileByName("plain.proto")]) == []
