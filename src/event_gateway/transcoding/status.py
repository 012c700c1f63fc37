"""gRPC status code → HTTP status, as grpc-gateway's ``runtime.HTTPStatusFromCode``.

This is the only place in the project that maps gRPC codes to HTTP statuses; error
renderers that want a different status decide so themselves, starting from this one.
"""

from __future__ import annotations

import grpc

# grpc-gateway v2 runtime/errors.go. FAILED_PRECONDITION is deliberately 400, not 412
# (412 is about HTTP conditional headers); CANCELLED is nginx's 499 "client closed request".
_HTTP_STATUS_BY_CODE: dict[int, int] = {
    0: 200,  # OK
    1: 499,  # CANCELLED
    2: 500,  # UNKNOWN
    3: 400,  # INVALID_ARGUMENT
    4: 504,  # DEADLINE_EXCEEDED
    5: 404,  # NOT_FOUND
    6: 409,  # ALREADY_EXISTS
    7: 403,  # PERMISSION_DENIED
    8: 429,  # RESOURCE_EXHAUSTED
    9: 400,  # FAILED_PRECONDITION
    10: 409,  # ABORTED
    11: 400,  # OUT_OF_RANGE
    12: 501,  # UNIMPLEMENTED
    13: 500,  # INTERNAL
    14: 503,  # UNAVAILABLE
    15: 500,  # DATA_LOSS
    16: 401,  # UNAUTHENTICATED
}


def code_number(code: int | grpc.StatusCode) -> int:
    """The numeric value of a gRPC code given as an int or a ``grpc.StatusCode``."""
    if isinstance(code, grpc.StatusCode):
        return int(code.value[0])
    return int(code)


def http_status_from_code(code: int | grpc.StatusCode) -> int:
    """HTTP status for a gRPC code; unknown codes are 500, like every other transcoder."""
    return _HTTP_STATUS_BY_CODE.get(code_number(code), 500)


def status_code_from_number(number: int) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` for a number; unknown numbers become UNKNOWN."""
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN
