from __future__ import annotations

import pytest

from event_gateway import errors
from event_gateway.dialects.alana import render

from .conftest import (
    ALANA,
    BAD_KEY,
    BUG,
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


def test_batch_too_large() -> None:
    err = errors.InvalidArgument(
        "A batch holds at most 100 events; got 101",
        [errors.FieldViolation("events", "at most 100 events per request", "too_long")],
        reason="BATCH_TOO_LARGE",
    )
    response = render(failure(err, ALANA))
    assert response.status == 400
    assert json_of(response) == {
        "status": "error",
        "error": "A batch holds at most 100 events; got 101",
        "code": "batch_too_large",
        "details": [{"field": "events", "reason": "at most 100 events per request"}],
    }


def test_transcoder_type_error_names_the_field() -> None:
    response = render(transcoder_bad_body(ALANA, "events[3].visitorId", "type"))
    body = json_of(response)
    assert response.status == 400
    assert body["code"] == "invalid_request"
    assert body["details"] == [{"field": "events[3].visitorId", "reason": "has the wrong JSON type"}]
    assert body["error"] == "events[3].visitorId: has the wrong JSON type"


def test_invalid_json() -> None:
    response = render(transcoder_bad_body(ALANA, "", "unexpected character: line 1 column 1 (char 0)"))
    assert response.status == 400
    assert json_of(response) == {
        "status": "error",
        "error": "Request body is not valid JSON",
        "code": "invalid_json",
    }


def test_missing_key() -> None:
    response = render(failure(NO_KEY, ALANA))
    assert response.status == 401
    body = json_of(response)
    assert body["status"] == "error" and body["code"] == "missing_api_key"
    assert "x-api-key" in body["error"]


@pytest.mark.parametrize("err", [BAD_KEY, WRONG_SCOPE])
def test_bad_key(err: errors.GatewayError) -> None:
    response = render(failure(err, ALANA))
    assert response.status == 401
    assert json_of(response) == {"status": "error", "error": "Invalid API key", "code": "invalid_api_key"}


def test_rate_limited_keeps_rate_headers() -> None:
    response = render(failure(RATE_LIMITED, ALANA, [("x-ratelimit-limit", "100")]))
    assert response.status == 429
    assert json_of(response)["code"] == "rate_limited"
    assert header(response, "retry-after") == "2"
    assert header(response, "x-ratelimit-limit") == "100"


@pytest.mark.parametrize(("err", "retry"), [(QUEUE_FULL, "1"), (STORE_DOWN, "2")])
def test_store_trouble_is_503_with_retry_after(err: errors.GatewayError, retry: str) -> None:
    response = render(failure(err, ALANA))
    assert response.status == 503
    assert json_of(response)["code"] == "unavailable"
    assert header(response, "retry-after") == retry


def test_internal_error_hides_the_detail() -> None:
    response = render(failure(BUG, ALANA))
    assert response.status == 500
    assert json_of(response) == {"status": "error", "error": "Internal error", "code": "internal_error"}


def test_body_too_large_keeps_413() -> None:
    response = render(body_too_large(ALANA))
    assert response.status == 413
    assert json_of(response)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("code", "http_status", "name"),
    [("INVALID_ARGUMENT", 415, "unsupported_media_type"), ("UNIMPLEMENTED", 405, "method_not_allowed")],
)
def test_transport_refusals_are_named_by_what_the_client_did(code: str, http_status: int, name: str) -> None:
    import grpc

    from event_gateway.transcoding.errors import make_failure

    refusal = make_failure(getattr(grpc.StatusCode, code), "refused", http_status=http_status)
    response = render(refusal)
    assert response.status == http_status and json_of(response)["code"] == name


def test_a_refusal_of_the_whole_body_has_no_dangling_field_prefix() -> None:
    from event_gateway.transcoding.errors import bad_request

    from .conftest import descriptor_of

    response = render(bad_request("", "expected object, got null", descriptor_of(ALANA), "type"))
    assert response.status == 400 and json_of(response)["error"] == "expected object, got null"
