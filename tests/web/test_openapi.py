"""The OpenAPI document generated from the descriptors and the contract."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator, validate

from event_gateway.contract import default_contract
from event_gateway.web.openapi import build_openapi, for_swagger_ui

REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build_openapi(default_contract(), "event-gateway", "9.9.9")


def _op(doc: dict[str, Any], path: str) -> dict[str, Any]:
    return doc["paths"][path]["post"]


def _request_schema(doc: dict[str, Any], path: str) -> dict[str, Any]:
    return _op(doc, path)["requestBody"]["content"]["application/json"]["schema"]


def test_valid_openapi_31_and_the_swagger_ui_copy_is_valid_30(doc: dict[str, Any]) -> None:
    validate(doc, cls=OpenAPIV31SpecValidator)
    validate(for_swagger_ui(doc), cls=OpenAPIV30SpecValidator)
    assert doc["openapi"] == "3.1.0" and doc["info"] == {"title": "event-gateway", "version": "9.9.9"}


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/api/v1/events", "alana.v1.TrackEventsRequest"),
        ("/api/v1/analytics/track", "storefront.v1.TrackRequest"),
        ("/api/v1/analytics/conversion", "storefront.v1.ConversionRequest"),
        ("/api/v1/interactions", "storefront.v1.RecordInteractionRequest"),
        ("/v2/events", "topsort.v2.ReportEventsRequest"),
    ],
)
def test_documented_paths_with_their_request_schemas(doc: dict[str, Any], path: str, schema: str) -> None:
    assert list(doc["paths"][path]) == ["post"]
    assert _request_schema(doc, path) == {"$ref": REF + schema}


def test_depict_body_is_a_top_level_array(doc: dict[str, Any]) -> None:
    assert _request_schema(doc, "/create-events") == {
        "type": "array", "items": {"$ref": REF + "depict.v1.Event"}}


def test_exactly_the_documented_paths(doc: dict[str, Any]) -> None:
    assert set(doc["paths"]) == {
        "/api/v1/events", "/api/v1/analytics/track", "/api/v1/analytics/conversion",
        "/api/v1/interactions", "/create-events", "/v2/events"}
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) and "alana.TrackEvents" in ids


def test_json_names_and_enum_spellings(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    alana_event = schemas["alana.v1.Event"]["properties"]
    assert {"eventType", "visitorId", "productIds", "categoryPath"} <= set(alana_event)
    assert alana_event["productIds"] == {"type": "array", "items": {"type": "string"}}
    assert alana_event["metadata"] == {"type": "object", "additionalProperties": True}
    assert "detail-page-view" in schemas["alana.v1.EventType"]["enum"]
    assert "EVENT_TYPE_UNSPECIFIED" not in schemas["alana.v1.EventType"]["enum"]
    track = schemas["storefront.v1.TrackRequest"]["properties"]
    assert set(track) == {"tenant_id", "type", "product_id", "metadata"}
    assert track["product_id"]["type"] == "integer"
    assert schemas["storefront.v1.InteractionType"]["enum"][0] == "whatsapp_click"
    impression = schemas["topsort.v2.Impression"]["properties"]
    assert impression["occurredAt"] == {"type": "string", "format": "date-time"}
    assert impression["placement"] == {"$ref": REF + "topsort.v2.Placement"}


def test_grpc_only_fields_are_not_in_the_rest_schemas(doc: dict[str, Any]) -> None:
    # The documented shopper-events answer is exactly these three fields.
    answer = doc["components"]["schemas"]["alana.v1.TrackEventsResponse"]["properties"]
    assert set(answer) == {"status", "stored", "errors"}


def test_success_statuses(doc: dict[str, Any]) -> None:
    assert "204" in _op(doc, "/v2/events")["responses"]
    assert "content" not in _op(doc, "/v2/events")["responses"]["204"]
    assert "202" in _op(doc, "/api/v1/analytics/track")["responses"]
    # Interactions: 201, or 202 for an unknown tenant and a store failure; never 404 or 503.
    interactions = _op(doc, "/api/v1/interactions")["responses"]
    assert set(interactions) == {"201", "202", "422", "429"}
    assert interactions["202"]["content"] == interactions["201"]["content"]
    ok = _op(doc, "/api/v1/events")["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": REF + "alana.v1.TrackEventsResponse"}


def test_error_responses_follow_each_dialect(doc: dict[str, Any]) -> None:
    def example(path: str, status: str) -> Any:
        return _op(doc, path)["responses"][status]["content"]["application/json"]["example"]

    laravel = example("/api/v1/analytics/track", "422")
    assert set(laravel) == {"message", "errors"}
    assert example("/api/v1/analytics/track", "404")["success"] is False
    assert set(example("/create-events", "422")["detail"][0]) == {"loc", "msg", "type"}
    assert example("/v2/events", "400")[0]["errCode"] == "bad_request"
    assert example("/api/v1/events", "401")["code"] == "invalid_api_key"
    for path in ("/api/v1/events", "/create-events", "/v2/events", "/api/v1/analytics/track"):
        assert {"429", "503"} <= set(_op(doc, path)["responses"])
    # A beacon reports nothing but throttling; public APIs have no 401.
    assert set(_op(doc, "/api/v1/analytics/conversion")["responses"]) == {"200", "429"}
    assert "401" not in _op(doc, "/api/v1/analytics/track")["responses"]


def test_security_schemes_per_api(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["header_x-api-key"] == {"type": "apiKey", "in": "header", "name": "x-api-key"}
    assert schemes["query_key"] == {"type": "apiKey", "in": "query", "name": "key"}
    assert schemes["query_api_key"] == {"type": "apiKey", "in": "query", "name": "api_key"}
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer"}
    assert _op(doc, "/api/v1/events")["security"] == [{"header_x-api-key": []}, {"query_key": []}]
    assert _op(doc, "/create-events")["security"] == [{"query_api_key": []}]
    assert _op(doc, "/v2/events")["security"] == [{"bearer": []}]
    assert _op(doc, "/api/v1/analytics/track")["security"] == []


def test_beacon_accepts_text_plain(doc: dict[str, Any]) -> None:
    content = _op(doc, "/api/v1/analytics/conversion")["requestBody"]["content"]
    assert set(content) == {"application/json", "text/plain"}
