"""Writing a response head in one pass, for uvicorn's httptools request cycle.

uvicorn checks every response header with two regular-expression searches before
writing it. Counted under callgrind, that is ~7,000 instructions a header, the
largest part of what each extra header costs a request (the four rate-limit headers
cost more than the auth and throttle checks that produce them). `write_head` does
the same checks once for the whole head: it searches all names joined and all values
joined, which finds exactly what the per-header searches find, because joining
cannot create or hide a forbidden byte. It writes the bytes uvicorn would write and
leaves the cycle in the state uvicorn would (tests/web/test_http_head.py compares
both on the same messages).

It is installed per cycle as the cycle's `send` (an instance attribute, see
`lean_send`), not by subclassing: uvicorn creates the cycle itself, and changing an
object's class after the fact made every later attribute access on it slower.
"""

from __future__ import annotations

from types import MethodType
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)

_uvicorn_send = RequestResponseCycle.send


async def _send(cycle: RequestResponseCycle, message: Any) -> None:
    # Only the plain case is handled here: the head of a response, no access log to
    # write, no back-pressure to wait for. Everything else is uvicorn's own path.
    if (
        cycle.response_started
        or message["type"] != "http.response.start"
        or cycle.disconnected
        or cycle.access_log
        or cycle.flow.write_paused
    ):
        return await _uvicorn_send(cycle, message)
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    cycle.transport.write(write_head(cycle, message["status"], message.get("headers", ())))


def write_head(cycle: RequestResponseCycle, status: int, headers: Any) -> bytes:
    """The head uvicorn writes for `status` and `headers`, updating the cycle's framing
    state (content length, chunking, keep-alive) as uvicorn does."""
    content = [STATUS_LINE[status]]
    has_connection_close = False
    for name, value in (*cycle.default_headers, *headers):
        name = name.lower()
        if name == b"content-length":
            if cycle.chunked_encoding is None:
                cycle.expected_content_length = int(value.decode())
                cycle.chunked_encoding = False
        elif name == b"transfer-encoding":
            if value.lower() == b"chunked":
                cycle.expected_content_length = 0
                cycle.chunked_encoding = True
        elif name == b"connection":
            if b"close" in [token.lower().strip() for token in value.split(b",")]:
                cycle.keep_alive = False
                has_connection_close = True
        content += (name, b": ", value, b"\r\n")
    # content is [status line, name, b": ", value, b"\r\n", name, ...].
    if HEADER_RE.search(b"".join(content[1::4])):
        raise RuntimeError("Invalid HTTP header name.")
    if HEADER_VALUE_RE.search(b"".join(content[3::4])):
        raise RuntimeError("Invalid HTTP header value.")
    if not cycle.keep_alive and not has_connection_close:
        content.append(b"connection: close\r\n")
    if (
        cycle.chunked_encoding is None
        and cycle.scope["method"] != "HEAD"
        and status not in (204, 304)
    ):
        cycle.chunked_encoding = True
        content.append(b"transfer-encoding: chunked\r\n")
    content.append(b"\r\n")
    return b"".join(content)


def lean_send(cycle: RequestResponseCycle) -> None:
    """Make `cycle` write its response head with `write_head`."""
    cycle.send = MethodType(_send, cycle)  # type: ignore[method-assign]
