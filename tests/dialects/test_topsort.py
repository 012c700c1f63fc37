from __future__ import annotations

import pytest

from event_gateway import errors
from event_gateway.dialects.topsort import DOC_URL, render

from .conftest import (
    BAD_KEY,
    BUG,
    NO_KEY,
    QUEUE_FULL,
    RATE_LIMITED,
    STORE_DOWN,
    TOPSORT,
    WRONG_SCOPE,
    body_too_large,
    failure,
    header,
    json_of,
    transcoder_bad_body,
)


def test_invalid_events_are_400_naming_event_and_field() -> None:
    err = errors.InvalidArgument(
        "2 invalid field(s)",
        [
            errors.FieldViolation("purchases[1].items[0].productId", "productId is required", "missing"),
            errors.FieldViolation("clicks[0].occurredAt", "occurredAt is required", "missing"),
        ],
        reason="INVALID_EVENTS",
    )
    response = render(failure(err, TOPSORT))
    assert response.status == 400
    assert json_of(response) == [
        {
            "errCode": "bad_request",
            "docUrl": DOC_URL,
            "message": "purchases[1].items[0].productId: productId is required",
        },
        {"errCode": "bad_request", "docUrl": DOC_URL, "message": "clicks[0].occurredAt: occurredAt is required"},
    ]


def test_transcoder_type_error() -> None:
    response = render(transcoder_bad_body(TOPSORT, "clicks[0].occurredAt", "invalid"))
    assert response.status == 400
    assert json_of(response)[0]["message"] == "clicks[0].occurredAt: is not a valid value"


def test_invalid_json_is_400() -> None:
    response = render(transcoder_bad_body(TOPSORT, "", "unexpected end of data: line 1 column 2 (char 1)"))
    assert response.status == 400
    assert json_of(response) == [
        {"errCode": "invalid_json", "docUrl": DOC_URL, "message": "The request is not valid JSON."}
    ]


@pytest.mark.parametrize("err", [NO_KEY, BAD_KEY, WRONG_SCOPE])
def test_key_problems_are_401_invalid_api_key(err: errors.GatewayError) -> None:
    response = render(failure(err, TOPSORT))
    assert response.status == 401
    assert header(response, "www-authenticate") == "Bearer"
    assert [e["errCode"] for e in json_of(response)] == ["invalid_api_key"]


def test_rate_limited() -> None:
    response = render(failure(RATE_LIMITED, TOPSORT, [("x-ratelimit-remaining", "0")]))
    assert response.status == 429
    assert json_of(response)[0]["errCode"] == "rate_limit_exceeded"
    assert header(response, "retry-after") == "2"
    assert header(response, "x-ratelimit-remaining") == "0"


@pytest.mark.parametrize("err", [QUEUE_FULL, STORE_DOWN])
def test_unavailable(err: errors.GatewayError) -> None:
    response = render(failure(err, TOPSORT))
    assert response.status == 503
    assert json_of(response)[0]["errCode"] == "service_unavailable"
    assert header(response, "retry-after") is not None


def test_internal_error() -> None:
    response = render(failure(BUG, TOPSORT))
    assert response.status == 500
    assert json_of(response) == [
        {"errCode": "internal_server_error", "docUrl": DOC_URL, "message": "Unexpected server problem."}
    ]


def test_body_too_large_keeps_413() -> None:
    response = render(body_too_large(TOPSORT))
    assert response.status == 413
    assert json_of(response)[0]["errCode"] == "bad_request"
