"""The FastAPI dialect, checked against what pydantic itself reports for the same body.

A pydantic model mirroring the documented Depict event validates the same JSON; FastAPI
answers ``{"detail": [...]}`` with each error's loc prefixed by "body" (the body is the
list parameter) and keeps type/loc/msg, which is what the dialect must reproduce.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from event_gateway import errors
from event_gateway.dialects.fastapi import render
from event_gateway.ingest import depict as depict_ingest

from .conftest import (
    BAD_KEY,
    BUG,
    DEPICT,
    NO_KEY,
    QUEUE_FULL,
    RATE_LIMITED,
    STORE_DOWN,
    WRONG_SCOPE,
    body_too_large,
    failure,
    header,
    json_of,
    transcoder_bad_body,
)


class EventType(str, Enum):
    page_view = "page_view"
    click = "click"
    add_to_cart = "add_to_cart"
    purchase = "purchase"
    element_visible = "element_visible"
    ws_click = "ws_click"
    recommendations_inserted = "recommendations_inserted"


class DepictEvent(BaseModel):
    tenant: str
    market: str
    type: EventType
    deduplication_id: str | None = None
    dsid: str | None = Field(None, min_length=1)
    variant_ids: list[str] | None = None
    entity_identifiers: dict[str, Any] | None = None


def fastapi_detail(body: Any) -> list[dict[str, Any]]:
    """FastAPI's detail for a list-of-events body parameter, reduced to loc/msg/type."""
    try:
        TypeAdapter(list[DepictEvent]).validate_python(body)
    except ValidationError as err:
        return [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in err.errors()
        ]
    return []


def servicer_violations(body: list[dict[str, Any]]) -> errors.InvalidArgument:
    """What the Depict servicer raises for events the transcoder could decode."""
    from depict.v1 import events_pb2 as pb
    from google.protobuf import json_format

    names = {t.value: pb.EventType.Value(f"EVENT_TYPE_{t.value.upper()}") for t in EventType}
    violations = []
    for i, raw in enumerate(body):
        raw = dict(raw)
        raw["type"] = names.get(raw.get("type", ""), 0)
        event = json_format.ParseDict(raw, pb.Event())
        violations.extend(depict_ingest.event_violations(i, event))
    return errors.InvalidArgument("Request validation failed", violations)


@pytest.mark.parametrize(
    "body",
    [
        [{"market": "se", "type": "click"}],
        [{"tenant": "t", "type": "click"}],
        [{"tenant": "t", "market": "se", "type": "click", "dsid": ""}],
        [{"tenant": "t", "market": "se"}],
        [{"tenant": "t", "market": "se", "type": "click"}, {"dsid": ""}],
    ],
)
def test_servicer_violations_render_exactly_as_pydantic(body: list[dict[str, Any]]) -> None:
    response = render(failure(servicer_violations(body), DEPICT))
    assert response.status == 422
    assert json_of(response) == {"detail": fastapi_detail(body)}


def test_unknown_type_is_reported_as_missing_a_documented_difference() -> None:
    # The codec drops unknown enum strings, so an unknown one arrives like an absent one;
    # pydantic would answer the enum error here. See docs/apis/depict.md.
    body = [{"tenant": "t", "market": "se", "type": "pageview"}]
    response = render(failure(servicer_violations(body), DEPICT))
    assert json_of(response) == {
        "detail": [{"loc": ["body", 0, "type"], "msg": "Field required", "type": "missing"}]
    }


def test_codec_rejected_enum_value_renders_as_pydantics_enum_error() -> None:
    # A value the codec refuses outright (e.g. a number that is no value) names the choices.
    response = render(transcoder_bad_body(DEPICT, "events[0].type", "invalid"))
    body = [{"tenant": "t", "market": "se", "type": "pageview"}]
    assert json_of(response) == {"detail": fastapi_detail(body)}


@pytest.mark.parametrize(
    ("path", "reason", "body"),
    [
        ("events[0].tenant", "type", [{"tenant": 5, "market": "se", "type": "click"}]),
        ("events[0].variant_ids", "type", [{"tenant": "t", "market": "se", "type": "click", "variant_ids": "x"}]),
        ("events[0].variant_ids[1]", "type", [{"tenant": "t", "market": "se", "type": "click", "variant_ids": ["a", 1]}]),
        ("events[0].entity_identifiers", "type", [{"tenant": "t", "market": "se", "type": "click", "entity_identifiers": []}]),
        ("events", "type", {"tenant": "t"}),
    ],
)
def test_transcoder_type_errors_render_as_pydantic(path: str, reason: str, body: Any) -> None:
    response = render(transcoder_bad_body(DEPICT, path, reason))
    assert response.status == 422
    assert json_of(response) == {"detail": fastapi_detail(body)}


def test_invalid_json_is_json_invalid_at_the_same_position() -> None:
    raw = '[{"a": }]'
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        orjson_message = str(err)
    try:
        json.loads(raw)
    except json.JSONDecodeError as err:
        position = err.pos  # what FastAPI reports
    response = render(transcoder_bad_body(DEPICT, "", orjson_message))
    assert response.status == 422
    assert json_of(response) == {
        "detail": [{"loc": ["body", position], "msg": "JSON decode error", "type": "json_invalid"}]
    }


def test_missing_api_key_is_a_missing_query_parameter() -> None:
    response = render(failure(NO_KEY, DEPICT))
    assert response.status == 422
    assert json_of(response) == {
        "detail": [{"loc": ["query", "api_key"], "msg": "Field required", "type": "missing"}]
    }


@pytest.mark.parametrize("err", [BAD_KEY, WRONG_SCOPE])
def test_bad_key_is_401(err: errors.GatewayError) -> None:
    response = render(failure(err, DEPICT))
    assert response.status == 401
    assert json_of(response) == {"detail": "Invalid API key"}


def test_rate_limited() -> None:
    response = render(failure(RATE_LIMITED, DEPICT, [("ratelimit", "limit=0, remaining=0, reset=2")]))
    assert response.status == 429
    assert json_of(response) == {"detail": "Too Many Requests"}
    assert header(response, "retry-after") == "2"
    assert header(response, "ratelimit") is not None


@pytest.mark.parametrize("err", [QUEUE_FULL, STORE_DOWN])
def test_unavailable(err: errors.GatewayError) -> None:
    response = render(failure(err, DEPICT))
    assert response.status == 503
    assert json_of(response) == {"detail": "Service Unavailable"}
    assert header(response, "retry-after") in {"1", "2"}


def test_internal_error_hides_the_detail() -> None:
    response = render(failure(BUG, DEPICT))
    assert response.status == 500 and json_of(response) == {"detail": "Internal Server Error"}


def test_body_too_large_keeps_413_with_detail() -> None:
    response = render(body_too_large(DEPICT))
    assert response.status == 413
    assert json_of(response) == {"detail": "request body exceeds 1048576 bytes"}


def test_bad_query_parameter_loc() -> None:
    response = render(transcoder_bad_body(DEPICT, "?limit", "not an integer"))
    assert json_of(response)["detail"][0]["loc"] == ["query", "limit"]
