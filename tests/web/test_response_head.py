"""OnePassCycle writes what uvicorn's own cycle writes, and refuses what it refuses."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from event_gateway.web.http_limits import HeadLimits, bounded_httptools
from event_gateway.web.response_head import OnePassCycle

DATE = [(b"date", b"Thu, 03 Dec 2026 07:00:00 GMT")]


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


def _cycle(kind: type[RequestResponseCycle], method: str, keep_alive: bool) -> Any:
    transport = _Transport()
    logger = logging.getLogger("test")
    return kind(
        scope={"type": "http", "method": method},  # type: ignore[typeddict-item]
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logger,
        access_logger=logger,
        access_log=False,
        default_headers=DATE,
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )


async def _written(
    kind: type[RequestResponseCycle], messages: list[dict[str, Any]], method: str, keep_alive: bool
) -> tuple[bytes, dict[str, Any]]:
    cycle = _cycle(kind, method, keep_alive)
    for message in messages:
        await cycle.send(message)
    state = {
        name: getattr(cycle, name)
        for name in (
            "response_started",
            "response_complete",
            "chunked_encoding",
            "expected_content_length",
            "keep_alive",
        )
    }
    return b"".join(cycle.transport.written), {**state, "closed": cycle.transport.closed}


RATE_HEADERS = [
    (b"x-ratelimit-limit", b"1000"),
    (b"x-ratelimit-remaining", b"999"),
    (b"ratelimit-policy", b'"per_key";q=1000;w=60, "per_key_ip";q=100;w=60'),
    (b"ratelimit", b'"per_key";r=999;t=1, "per_key_ip";r=99;t=1'),
]
BODY = b'{"status":"ok"}'
CASES = {
    "sized": (200, [*RATE_HEADERS, (b"content-type", b"application/json"),
                    (b"content-length", b"15")], BODY),
    "mixed case names": (200, [(b"Content-Type", b"text/plain"), (b"X-Thing", b"A b"),
                               (b"Content-Length", b"15")], BODY),
    "two lengths, the first counts": (200, [(b"content-length", b"15"),
                                            (b"content-length", b"99")], BODY),
    "unsized: chunked": (200, [(b"content-type", b"text/plain")], BODY),
    "no headers": (200, [], BODY),
    "no content": (204, [(b"x-ratelimit-limit", b"5")], b""),
    "not modified": (304, [], b""),
    "status without a phrase": (599, [(b"content-length", b"0")], b""),
    "transfer-encoding given": (200, [(b"transfer-encoding", b"chunked")], BODY),
    "connection close given": (200, [(b"connection", b"close"), (b"content-length", b"15")], BODY),
    "connection keep-alive given": (200, [(b"Connection", b"keep-alive"),
                                          (b"content-length", b"15")], BODY),
}  # fmt: skip


@pytest.mark.parametrize("method", ["POST", "HEAD"])
@pytest.mark.parametrize("keep_alive", [True, False])
@pytest.mark.parametrize("case", sorted(CASES))
async def test_same_bytes_and_state_as_uvicorn(case: str, method: str, keep_alive: bool) -> None:
    status, headers, body = CASES[case]
    if method == "HEAD":
        body = b""
    messages = [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]
    ours = await _written(OnePassCycle, messages, method, keep_alive)
    theirs = await _written(RequestResponseCycle, messages, method, keep_alive)
    assert ours == theirs
    assert ours[0].startswith(b"HTTP/1.1 ")


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ([(b"bad name", b"x")], "Invalid HTTP header name."),
        ([(b"ok", b"x"), (b"x:y", b"x")], "Invalid HTTP header name."),
        ([(b"ok", b"line\r\ninjected: yes")], "Invalid HTTP header value."),
        ([(b"ok", b"fine"), (b"other", b"nul\x00")], "Invalid HTTP header value."),
    ],
)
@pytest.mark.parametrize("kind", [OnePassCycle, RequestResponseCycle])
async def test_refuses_what_uvicorn_refuses(
    kind: type[RequestResponseCycle], headers: list[tuple[bytes, bytes]], error: str
) -> None:
    cycle = _cycle(kind, "POST", True)
    with pytest.raises(RuntimeError, match=error):
        await cycle.send({"type": "http.response.start", "status": 200, "headers": headers})
    assert cycle.transport.written == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_protocol_gives_every_request_the_one_pass_cycle() -> None:
    """Over a real socket: keep-alive requests, each answered by an OnePassCycle."""
    kinds: list[type] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        kinds.append(type(send.__self__))
        body = scope["path"].encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-path", body), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None,
        http=bounded_httptools(HeadLimits(), response_cycle=OnePassCycle),
    )  # fmt: skip
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            answers = [await client.get(f"/n{i}") for i in range(3)]
    finally:
        server.should_exit = True
        await serving
    assert [(a.status_code, a.headers["x-path"], a.text) for a in answers] == [
        (200, f"/n{i}", f"/n{i}") for i in range(3)
    ]
    assert kinds == [OnePassCycle] * 3


def test_the_forbidden_bytes_are_uvicorns() -> None:
    from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE

    from event_gateway.web import response_head

    for byte in range(256):
        one = bytes([byte])
        assert (one in response_head._NAME_FORBIDDEN) == bool(HEADER_RE.search(one)), byte
        assert (one in response_head._VALUE_FORBIDDEN) == bool(HEADER_VALUE_RE.search(one)), byte
