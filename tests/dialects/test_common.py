from __future__ import annotations

import grpc
import pytest

from event_gateway import errors
from event_gateway.dialects import (
    body_field,
    decode,
    field_at,
    json_response,
    method_spec,
    path_segments,
    renderer_for,
)
from event_gateway.dialects import alana, fastapi, laravel, topsort
from event_gateway.contract import default_contract

from .conftest import DEPICT, TOPSORT, CONVERSION, descriptor_of, failure, header


def test_renderer_for_each_dialect_the_contract_names() -> None:
    assert renderer_for("alana") is alana.render
    assert renderer_for("laravel") is laravel.render
    assert renderer_for("fastapi") is fastapi.render
    assert renderer_for("topsort") is topsort.render
    assert renderer_for("") is None and renderer_for("grpc-gateway") is None
    for api in default_contract().apis:
        assert renderer_for(api.error_dialect) is not None, api.name


@pytest.mark.parametrize(
    ("seconds", "header_value"), [(1.0, 1), (1.2, 2), (0.001, 1), (0.0, 0), (59.9999, 60)]
)
def test_retry_after_is_whole_seconds_rounded_up(seconds: float, header_value: int) -> None:
    decoded = decode(errors.to_rpc_status(errors.Unavailable("down", retry_after=seconds)))
    assert decoded.retry_after == header_value
    assert decoded.retry_after_header() == [("retry-after", str(header_value))]


def test_decode_reads_reason_violations_and_code() -> None:
    err = errors.InvalidArgument(
        "bad", [errors.FieldViolation("events[1].x", "x is required", "missing")], reason="R"
    )
    decoded = decode(errors.to_rpc_status(err))
    assert decoded.code == grpc.StatusCode.INVALID_ARGUMENT and decoded.reason == "R"
    (v,) = decoded.violations
    assert (v.field, v.description, v.kind) == ("events[1].x", "x is required", "missing")
    assert decoded.retry_after is None


def test_path_segments() -> None:
    assert path_segments("purchases[1].items[0].productId") == ["purchases", 1, "items", 0, "productId"]
    assert path_segments("") == []
    assert path_segments("tenant_id") == ["tenant_id"]


def test_field_at_follows_json_and_proto_names() -> None:
    method = descriptor_of(TOPSORT)
    assert field_at(method, ["purchases", 1, "items", 0, "unitPrice"]).name == "unit_price"
    assert field_at(method, ["purchases", 0, "items", 0, "unit_price"]).name == "unit_price"
    assert field_at(method, ["nope"]) is None
    assert field_at(None, ["x"]) is None


def test_body_field_and_method_spec() -> None:
    assert body_field(descriptor_of(DEPICT)) == "events"
    assert body_field(descriptor_of(TOPSORT)) == "*"
    spec = method_spec(descriptor_of(CONVERSION))
    assert spec is not None and spec.beacon and spec.api.name == "storefront"
    assert method_spec(None) is None


def test_json_response_keeps_collected_headers_without_duplicates() -> None:
    f = failure(errors.Unavailable("x"), TOPSORT, [("x-ratelimit-remaining", "3"), ("retry-after", "9")])
    response = json_response(503, {"a": 1}, f, [("retry-after", "2")])
    assert header(response, "x-ratelimit-remaining") == "3"
    assert header(response, "retry-after") == "2"
    assert response.body == b'{"a":1}'
