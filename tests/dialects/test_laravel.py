from __future__ import annotations

import time

import pytest

from event_gateway import errors
from event_gateway.dialects.laravel import render, reset_header, summary
from event_gateway.ingest.storefront import TENANT_UNAVAILABLE

from .conftest import (
    BAD_KEY,
    BUG,
    CONVERSION,
    INTERACTION,
    QUEUE_FULL,
    RATE_LIMITED,
    STORE_DOWN,
    TRACK,
    body_too_large,
    failure,
    header,
    json_of,
    transcoder_bad_body,
)


def invalid(*violations: tuple[str, str]) -> errors.InvalidArgument:
    return errors.InvalidArgument(
        "The given data was invalid.",
        [errors.FieldViolation(field, f"{field} problem", kind) for field, kind in violations],
    )


def test_missing_tenant_and_invalid_type() -> None:
    response = render(failure(invalid(("tenant_id", "missing"), ("type", "invalid")), TRACK))
    assert response.status == 422
    assert json_of(response) == {
        "message": "The tenant id field is required. (and 1 more error)",
        "errors": {
            "tenant_id": ["The tenant id field is required."],
            "type": ["The selected type is invalid."],
        },
    }


def test_single_error_has_no_count() -> None:
    response = render(failure(invalid(("type", "missing")), INTERACTION))
    assert json_of(response) == {
        "message": "The type field is required.",
        "errors": {"type": ["The type field is required."]},
    }


def test_product_not_found_is_the_exists_message() -> None:
    response = render(failure(invalid(("product_id", "not_found")), TRACK))
    assert json_of(response)["errors"] == {"product_id": ["The selected product id is invalid."]}


@pytest.mark.parametrize(
    ("path", "kind", "message"),
    [
        ("product_id", "invalid", "The product id field must be an integer."),
        ("product_id", "type", "The product id field must be an integer."),
        ("tenant_id", "type", "The tenant id field must be a string."),
        ("type", "invalid", "The selected type is invalid."),
        ("metadata", "type", "The metadata field must be an array."),
    ],
)
def test_transcoder_shape_errors_get_laravel_wording(path: str, kind: str, message: str) -> None:
    response = render(transcoder_bad_body(TRACK, path, kind))
    assert response.status == 422
    assert json_of(response) == {"message": message, "errors": {path: [message]}}


def test_interaction_tenant_id_must_be_an_integer() -> None:
    response = render(transcoder_bad_body(INTERACTION, "tenant_id", "invalid"))
    assert json_of(response)["errors"] == {"tenant_id": ["The tenant id field must be an integer."]}


def test_invalid_json_is_422_in_laravel_shape() -> None:
    response = render(transcoder_bad_body(TRACK, "", "unexpected character: line 1 column 2 (char 1)"))
    assert response.status == 422
    assert json_of(response) == {
        "message": "The request body must be valid JSON.",
        "errors": {"body": ["The request body must be valid JSON."]},
    }


def test_three_errors_pluralise() -> None:
    assert summary(["a", "b", "c"]) == "a (and 2 more errors)"


def test_tenant_not_found() -> None:
    response = render(failure(errors.NotFound(TENANT_UNAVAILABLE, reason="TENANT_NOT_FOUND"), TRACK))
    assert response.status == 404
    assert json_of(response) == {"success": False, "message": "Tenant not found or not available"}


def test_throttled_with_retry_after_and_rate_headers_kept() -> None:
    response = render(failure(RATE_LIMITED, TRACK, [("x-ratelimit-limit", "60"), ("x-ratelimit-remaining", "0")]))
    assert response.status == 429
    assert json_of(response) == {"message": "Too Many Attempts."}
    assert header(response, "retry-after") == "2"
    assert header(response, "x-ratelimit-limit") == "60"


def test_throttled_carries_x_ratelimit_reset_as_laravel_does() -> None:
    # ThrottleRequests: X-RateLimit-Reset = now + Retry-After, a Unix timestamp.
    before = int(time.time())
    response = render(failure(RATE_LIMITED, TRACK, [("x-ratelimit-limit", "60"), ("x-ratelimit-remaining", "0")]))
    retry_after = int(header(response, "retry-after"))
    assert before + retry_after <= int(header(response, "x-ratelimit-reset")) <= int(time.time()) + retry_after
    assert reset_header(2, 1_700_000_000.9) == [("x-ratelimit-reset", "1700000002")]
    assert reset_header(None, 1_700_000_000.0) == []


def test_only_the_429_carries_x_ratelimit_reset() -> None:
    assert header(render(failure(QUEUE_FULL, TRACK)), "x-ratelimit-reset") is None


@pytest.mark.parametrize("err", [QUEUE_FULL, STORE_DOWN])
def test_store_trouble_is_503(err: errors.GatewayError) -> None:
    response = render(failure(err, TRACK))
    assert response.status == 503
    assert json_of(response) == {"message": "Service Unavailable"}
    assert header(response, "retry-after") is not None


def test_internal_error_hides_the_detail() -> None:
    response = render(failure(BUG, TRACK))
    assert response.status == 500 and json_of(response) == {"message": "Server Error"}


def test_unauthenticated_in_laravel_words() -> None:
    response = render(failure(BAD_KEY, TRACK))
    assert response.status == 401 and json_of(response) == {"message": "Unauthenticated."}


def test_body_too_large_keeps_413() -> None:
    assert render(body_too_large(TRACK)).status == 413


@pytest.mark.parametrize(
    "make",
    [
        lambda: failure(invalid(("tenant_slug", "missing")), CONVERSION),
        lambda: transcoder_bad_body(CONVERSION, "", "unexpected end of data (char 0)"),
        lambda: transcoder_bad_body(CONVERSION, "value", "type"),
        lambda: failure(STORE_DOWN, CONVERSION),
        lambda: failure(QUEUE_FULL, CONVERSION),
        lambda: failure(BUG, CONVERSION),
        lambda: body_too_large(CONVERSION),
    ],
)
def test_beacon_never_reports_a_failure(make) -> None:
    response = render(make())
    assert response.status == 200
    # transaction_id is null_when_unset: the key Laravel's answer always has.
    assert json_of(response) == {"status": "skipped", "transaction_id": None}


def test_beacon_is_still_throttled() -> None:
    response = render(failure(RATE_LIMITED, CONVERSION))
    assert response.status == 429 and header(response, "retry-after") == "2"
