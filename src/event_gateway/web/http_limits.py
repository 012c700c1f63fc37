"""Limits on the HTTP request head and on the time a request takes to arrive, enforced
while it is parsed.

httptools buffers a request's head without bound (measured: one 8 MB header and
100,000 headers were accepted), and an ASGI middleware only runs after the whole head
has been read. So the limits live in the protocol: the size of the head, the number of
header fields and the length of the request target. A request over a limit is answered
431 (head or fields) or 414 (target) and its connection closed.

The head's size is bounded two ways, because a read from the socket holds whatever
arrived: the head, the head and the start of the body (a client writes both at once),
or part of a head. Every read that leaves the head unfinished counts in full, which
bounds what the parser may be holding; the fields the parser completes count by their
own length, which bounds a head that arrives whole. Body bytes that came in the same
read as the end of the head never count (before 2026-12-03 they did, and a body of more
than 64 KiB written with its head was refused 431).

Time: uvicorn's only timer is keep-alive, armed after a response. A client that sends
nothing, or sends its head or body a byte at a time, held its connection for ever, and
some thousands of them starve every other client (slowloris). So a head must be complete
within `head_timeout` of the connection or of its first byte, and a body may not pause
for longer than `body_idle_timeout` (a slow but steady upload is fine). Either answers
408 and closes. Pauses that are the server's doing (reading paused for flow control, a
pipelined request waiting its turn) never count.

A head must also name exactly one Host (RFC 9112 §3.2: 400 when HTTP/1.1 names none, or
any version names several): the server answers one site, but a proxy in front of it may
read the request differently.

Two things uvicorn does that the gateway must not (both found by a black-box run):
- Trailer fields of a chunked body reached the app as request headers (uvicorn's header
  list is the scope's, and httptools reports trailers like headers), so a credential, a
  Content-Type or an X-Forwarded-For could be slipped in after any proxy had checked
  the head. Trailers are counted against the limits and dropped (RFC 9110 §6.5.2).
- Bytes that cannot be parsed after a complete request were answered 400 at once and
  the connection closed under the request being served: its events were stored, its
  client heard only the 400. Requests read before the bad bytes are answered first, in
  order, and then the refusal (RFC 9112 §9.3.2).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True, slots=True)
class HeadLimits:
    max_head_bytes: int = 64 * 1024
    max_header_fields: int = 100
    max_target_bytes: int = 8 * 1024
    head_timeout: float = 30.0
    body_idle_timeout: float = 30.0


class _HeadRefused(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _too_large() -> _HeadRefused:
    return _HeadRefused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Request head too large.")


def bounded_httptools(limits: HeadLimits) -> type[HttpToolsProtocol]:
    """An httptools protocol class for uvicorn (`Config(http=...)`) enforcing `limits`."""

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_bytes = 0  # reads that left the head unfinished
            self._field_bytes = 0  # completed target and fields
            self._in_head = True
            self._message_ended = False
            self._fields = 0
            self._hosts = 0
            self._refusal: _HeadRefused | None = None
            self._after_answers: _HeadRefused | None = None  # refusal due once all are answered
            # The request being read must arrive by `_deadline` (None: nothing is being
            # read). One timer serves all of a connection's requests: moving a deadline
            # is arithmetic, where arming a timer per request cost ~3% of a request's
            # instructions. When it fires early it re-arms for the time left.
            self._deadline: float | None = None
            self._timer: asyncio.TimerHandle | None = None
            self._timer_at = 0.0

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm(limits.head_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            self._deadline = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if not self._in_head:
                if self._deadline is not None:  # a body arriving: its idle time starts again
                    self._arm(limits.body_idle_timeout)
                super().data_received(data)
                return
            self._message_ended = False
            super().data_received(data)
            # Counted after parsing: only now is it known whether the head ended in this
            # read. A read in which a message ended may hold the next message's head too;
            # it is not counted, and that head's fields still are.
            if self._in_head and not self._message_ended and not self.transport.is_closing():
                self._head_bytes += len(data)
                if self._head_bytes > limits.max_head_bytes:
                    self._refuse(_too_large())

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._fields = 0
            self._field_bytes = 0
            self._hosts = 0
            if self._deadline is None:  # a later request on the connection: its own deadline
                self._arm(limits.head_timeout)

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            self._count_field_bytes(len(url))
            if len(self.url) > limits.max_target_bytes:
                # Raised inside a parser callback: httptools turns it into a parser
                # error, which uvicorn answers through send_400_response below.
                self._refusal = _HeadRefused(HTTPStatus.REQUEST_URI_TOO_LONG, "Request target too long.")
                raise self._refusal

        def on_header(self, name: bytes, value: bytes) -> None:
            self._fields += 1
            if self._fields > limits.max_header_fields:
                self._refusal = _HeadRefused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many header fields.")
                raise self._refusal
            self._count_field_bytes(len(name) + len(value) + 4)  # ": " and CRLF
            if not self._in_head:
                return  # a chunked body's trailer field: never a request header
            if len(name) == 4 and name.lower() == b"host":
                self._hosts += 1
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            if self._hosts > 1 or (self._hosts == 0 and self.parser.get_http_version() == "1.1"):
                # Raised inside a parser callback, as in on_url.
                self._refusal = _HeadRefused(HTTPStatus.BAD_REQUEST, "Exactly one Host header is required.")
                raise self._refusal
            self._in_head = False
            self._arm(limits.body_idle_timeout)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()
            self._in_head = True
            self._message_ended = True
            self._head_bytes = 0

        def _arm(self, seconds: float) -> None:
            deadline = self._deadline = self.loop.time() + seconds
            if self._timer is None or self._timer_at > deadline:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = self.loop.call_at(deadline, self._timed_out)
                self._timer_at = deadline

        def _disarm(self) -> None:
            self._deadline = None  # a pending timer finds nothing to time

        def _timed_out(self) -> None:
            self._timer = None
            deadline = self._deadline
            if deadline is None or self.transport.is_closing():
                return
            if deadline > self.loop.time():  # the deadline moved since the timer was set
                self._timer = self.loop.call_at(deadline, self._timed_out)
                self._timer_at = deadline
                return
            if self.flow.read_paused or self.pipeline:
                # Waiting on us (reading paused, a pipelined request queued), not on the
                # client: the clock starts again.
                self._arm(limits.head_timeout if self._in_head else limits.body_idle_timeout)
                return
            # In a head, `cycle` is still the previous request's (already answered).
            if not self._in_head and self.cycle is not None and self.cycle.response_started:
                self.transport.close()  # too late for a 408: the answer is under way
                return
            if self._in_head and self._head_bytes == 0 and not self._fields:
                # Nothing of a request has come (a connection opened ahead, as pools and
                # browsers do): close quietly, as on keep-alive expiry. A 408 here could
                # reach a client just as it sends a request, and be read as its answer.
                self.transport.close()
                return
            self._refuse(_HeadRefused(HTTPStatus.REQUEST_TIMEOUT, "Request not received in time."))

        def _count_field_bytes(self, size: int) -> None:
            self._field_bytes += size
            if self._field_bytes > limits.max_head_bytes:
                # Raised inside a parser callback, as in on_url.
                self._refusal = _too_large()
                raise self._refusal

        def send_400_response(self, msg: str) -> None:
            refusal = self._refusal or _HeadRefused(HTTPStatus.BAD_REQUEST, msg)
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete and not cycle.more_body:
                # A request read whole is being answered (pipelined ones may wait too):
                # the refusal follows their answers.
                self._after_answers = self._after_answers or refusal
                self._disarm()
                return
            self._refuse(refusal)

        def on_response_complete(self) -> None:
            refusal = self._after_answers
            if refusal is None or self.pipeline:
                super().on_response_complete()
                return
            self._after_answers = None
            self.server_state.total_requests += 1
            if not self.transport.is_closing():
                self._refuse(refusal)

        def _refuse(self, refusal: _HeadRefused) -> None:
            body = str(refusal).encode()
            head = (
                f"HTTP/1.1 {refusal.status.value} {refusal.status.phrase}\r\n"
                "content-type: text/plain; charset=utf-8\r\n"
                f"content-length: {len(body)}\r\n"
                "connection: close\r\n\r\n"
            ).encode()
            self.transport.write(head + body)
            self.transport.close()

    return BoundedHttpToolsProtocol
