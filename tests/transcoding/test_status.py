import grpc
import pytest

from event_gateway.transcoding.status import http_status_from_code, status_code_from_number


@pytest.mark.parametrize(("code", "status"), [
    (grpc.StatusCode.OK, 200), (grpc.StatusCode.CANCELLED, 499), (grpc.StatusCode.UNKNOWN, 500),
    (grpc.StatusCode.INVALID_ARGUMENT, 400), (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    (grpc.StatusCode.NOT_FOUND, 404), (grpc.StatusCode.ALREADY_EXISTS, 409),
    (grpc.StatusCode.PERMISSION_DENIED, 403), (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    (grpc.StatusCode.FAILED_PRECONDITION, 400), (grpc.StatusCode.ABORTED, 409),
    (grpc.StatusCode.OUT_OF_RANGE, 400), (grpc.StatusCode.UNIMPLEMENTED, 501),
    (grpc.StatusCode.INTERNAL, 500), (grpc.StatusCode.UNAVAILABLE, 503),
    (grpc.StatusCode.DATA_LOSS, 500), (grpc.StatusCode.UNAUTHENTICATED, 401),
])
def test_grpc_gateway_table(code: grpc.StatusCode, status: int) -> None:
    assert http_status_from_code(code) == status
    assert http_status_from_code(code.value[0]) == status


def test_unknown_code_is_500() -> None:
    assert http_status_from_code(42) == 500
    assert status_code_from_number(42) is grpc.StatusCode.UNKNOWN
    assert status_code_from_number(5) is grpc.StatusCode.NOT_FOUND
