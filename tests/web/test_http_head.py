"""The one-pass response head writes what uvicorn writes, and refuses what it refuses.

Compared two ways: on request cycles driven directly with the same messages (many
header lists, generated, including forbidden bytes), and over real sockets, one
uvicorn server with uvicorn's own protocol beside one with the gateway's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from event_gateway.web.http_head import lean_send
from event_gateway.web.http_limits import HeadLimits, bounded_httptools


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class _Flow:
    write_paused = False


def _cycle(method: str, keep_alive: bool, default_headers: list[tuple[bytes, bytes]]) -> Any:
    return RequestResponseCycle(
        scope={"type": "http", "method": method, "headers": []},  # type: ignore[typeddict-item]
        transport=_Transport(),  # type: ignore[arg-type]
        flow=_Flow(),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=default_headers,
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )


async def _outcome(cycle: Any, messages: list[dict[str, Any]]) -> tuple[Any, ...]:
    error: type[BaseException] | None = None
    try:
        for message in messages:
            await cycle.send(message)
    except (RuntimeError, ValueError) as exc:
        error = type(exc)
    state = (cycle.expected_content_length, cycle.chunked_encoding, cycle.keep_alive)
    if error is not None:
        # After an error the connection is closed; only the refusal itself must match.
        return ("refused",)
    return (b"".join(cycle.transport.written), state, cycle.response_complete)


async def _both(messages: list[dict[str, Any]], method: str = "POST", keep_alive: bool = True,
                default_headers: list[tuple[bytes, bytes]] | None = None) -> tuple[Any, Any]:
    defaults = default_headers if default_headers is not None else [(b"date", b"Sun, 22 Nov 2026")]
    theirs = _cycle(method, keep_alive, defaults)
    ours = _cycle(method, keep_alive, defaults)
    lean_send(ours)
    return await _outcome(theirs, messages), await _outcome(ours, messages)


def _start(status: int, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers}


def _body(body: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": body, "more_body": more}


CASES = {
    "plain": ([_start(200, [(b"Content-Type", b"application/json"), (b"content-length", b"2")]),
               _body(b"{}")], "POST", True),
    "rate-limit headers": ([_start(202, [
        (b"x-ratelimit-limit", b"100"), (b"x-ratelimit-remaining", b"99"),
        (b"ratelimit-policy", b'"per_key";q=1000;w=60, "per_key_ip";q=100;w=60'),
        (b"ratelimit", b'"per_key";r=999;t=1, "per_key_ip";r=99;t=1'),
        (b"content-type", b"application/json"), (b"content-length", b"0")]), _body(b"")], "POST", True),
    "no length: chunked": ([_start(200, []), _body(b"ab", more=True), _body(b"")], "GET", True),
    "explicit chunked": ([_start(200, [(b"Transfer-Encoding", b"Chunked")]), _body(b"x")], "GET", True),
    "two lengths: the first wins": ([_start(200, [(b"content-length", b"1"), (b"content-length", b"5")]),
                                     _body(b"x")], "GET", True),
    "head request": ([_start(200, [(b"content-length", b"10")]), _body(b"")], "HEAD", True),
    "204 without length": ([_start(204, []), _body(b"")], "DELETE", True),
    "connection close from the app": ([_start(200, [(b"Connection", b"keep-alive, Close"),
                                                    (b"content-length", b"0")]), _body(b"")], "GET", True),
    "http/1.0 style: not kept alive": ([_start(200, [(b"content-length", b"0")]), _body(b"")], "GET", False),
    "bad name": ([_start(200, [(b"x-ok", b"1"), (b"bad name", b"1")])], "GET", True),
    "bad value": ([_start(200, [(b"x-ok", b"1"), (b"x-bad", b"a\r\nset-cookie: x=1")])], "GET", True),
    "body longer than length": ([_start(200, [(b"content-length", b"1")]), _body(b"xx")], "GET", True),
    "body before start": ([_body(b"x")], "GET", True),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_same_bytes_and_state_as_uvicorn(name: str) -> None:
    messages, method, keep_alive = CASES[name]
    theirs, ours = await _both(messages, method, keep_alive)
    assert ours == theirs
    if name.startswith("bad"):
        assert ours == ("refused",)


async def test_default_headers_are_written_and_checked_too() -> None:
    messages = [_start(200, [(b"content-length", b"0")]), _body(b"")]
    theirs, ours = await _both(messages, default_headers=[(b"server", b"gw"), (b"date", b"today")])
    assert ours == theirs
    assert b"server: gw\r\ndate: today\r\n" in ours[0]
    theirs, ours = await _both(messages, default_headers=[(b"server", b"g\nw")])
    assert ours == theirs == ("refused",)


# Bytes that are fine in both names and values, and ones forbidden in one or both.
_BYTES = st.sampled_from([b"a", b"Z", b"-", b"0", b" ", b"\t", b":", b"\r", b"\n", b"\x00",
                          b"\x7f", b"\x80", b'"', b","])
_NAMES = st.one_of(st.sampled_from([b"content-length", b"Transfer-Encoding", b"connection",
                                    b"x-ratelimit-limit"]),
                   st.lists(_BYTES, max_size=6).map(b"".join))
_VALUES = st.one_of(st.sampled_from([b"0", b"7", b"chunked", b"close", b"x, close"]),
                    st.lists(_BYTES, max_size=8).map(b"".join))


@settings(max_examples=300, deadline=None)
@given(headers=st.lists(st.tuples(_NAMES, _VALUES), max_size=6),
       status=st.sampled_from([200, 204, 304, 429]), method=st.sampled_from(["GET", "HEAD"]),
       keep_alive=st.booleans())
def test_generated_heads_match_uvicorn(headers: list[tuple[bytes, bytes]], status: int, method: str,
                                       keep_alive: bool) -> None:
    theirs, ours = asyncio.run(_both([_start(status, headers)], method, keep_alive))
    assert ours == theirs


# Over real sockets: uvicorn's protocol and the gateway's serve the same app.


async def _app(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    while (await receive()).get("more_body"):
        pass
    body = scope["path"].encode()
    headers = [(b"content-type", b"text/plain"), (b"x-ratelimit-remaining", b"9")]
    if scope["path"] != "/chunked":
        headers.append((b"content-length", str(len(body)).encode()))
    await send(_start(200, headers))
    await send(_body(body))


@contextlib.asynccontextmanager
async def _serving(protocol: type[HttpToolsProtocol]) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=protocol, lifespan="off", log_config=None,
                            access_log=False, date_header=False, server_header=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def _exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    return answer


REQUESTS = {
    # Three pipelined requests; the last asks to close, so the server ends the connection.
    "pipelined": b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nPOST /b HTTP/1.1\r\nhost: x\r\n"
                 b"content-length: 3\r\n\r\nabcHEAD /c HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    "chunked answer": b"GET /chunked HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    "http/1.0": b"GET /old HTTP/1.0\r\n\r\n",
}


@pytest.mark.parametrize("name", list(REQUESTS))
async def test_same_bytes_on_the_wire_as_uvicorn(name: str) -> None:
    async with _serving(HttpToolsProtocol) as theirs, _serving(bounded_httptools(HeadLimits())) as ours:
        expected = await _exchange(theirs, REQUESTS[name])
        got = await _exchange(ours, REQUESTS[name])
    assert got == expected
    assert got.startswith(b"HTTP/1.1 200 OK\r\n")
