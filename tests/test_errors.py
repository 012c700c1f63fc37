"""errors.to_rpc_status: a bounded status keeps the first violations and says so."""

from __future__ import annotations

from google.rpc import error_details_pb2

import pytest

from event_gateway import errors


def _violations(status) -> list[str]:
    bad_request = error_details_pb2.BadRequest()
    assert status.details[-1].Unpack(bad_request)
    return [v.field for v in bad_request.field_violations]


def _error(count: int, message: str = "Request validation failed") -> errors.InvalidArgument:
    return errors.InvalidArgument(
        message,
        [errors.FieldViolation(f"events[{i}].market", "Field required", "missing") for i in range(count)],
        reason="INVALID",
    )


def test_a_status_within_the_bound_is_unchanged() -> None:
    error = _error(3)
    assert errors.to_rpc_status(error, max_bytes=errors.MAX_STATUS_BYTES) == errors.to_rpc_status(error)


def test_a_status_over_the_bound_keeps_the_first_violations_that_fit() -> None:
    error = _error(500, message="x" * 5000)
    full = errors.to_rpc_status(error)
    bounded = errors.to_rpc_status(error, max_bytes=errors.MAX_STATUS_BYTES)
    assert full.ByteSize() > 5 * errors.MAX_STATUS_BYTES
    assert bounded.ByteSize() <= errors.MAX_STATUS_BYTES
    kept = _violations(bounded)
    assert 10 < len(kept) < 500 and kept == _violations(full)[: len(kept)]
    assert bounded.message.startswith("x" * (errors.MAX_MESSAGE_CHARS - 1) + "…")
    assert bounded.message.endswith(f"(the first {len(kept)} of 500 field violations are listed)")
    assert bounded.code == full.code and len(bounded.details) == len(full.details)  # ErrorInfo kept


def test_a_long_message_alone_is_cut() -> None:
    error = errors.NotFound("y" * 10_000)
    bounded = errors.to_rpc_status(error, max_bytes=1024)
    assert bounded.message == "y" * (errors.MAX_MESSAGE_CHARS - 1) + "…"


@pytest.mark.parametrize("count", [300, 15_000])
def test_long_violations_by_the_thousand_still_fill_the_bound(count: int) -> None:
    # Entries of 128 bytes or more have a two-byte length prefix; counted as one, the
    # shortfall over 15,000 of them exceeded the whole bound and every one was dropped.
    description = "Field required: " + ", ".join(f"choice_{i}" for i in range(20))
    violations = [errors.FieldViolation(f"events[{i}].type", description, "missing") for i in range(count)]
    error = errors.InvalidArgument("Request validation failed", violations, reason="INVALID")
    bounded = errors.to_rpc_status(error, max_bytes=errors.MAX_STATUS_BYTES)
    room = errors.MAX_STATUS_BYTES - bounded.ByteSize()
    assert 0 <= room < len(description) + 40  # not one more violation would have fitted
    assert bounded.message.endswith(f"of {count} field violations are listed)")
