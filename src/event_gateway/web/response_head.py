"""The response head written with one check of all names and one of all values.

uvicorn checks each response header with two regular-expression searches before it
writes it. Counted with callgrind (2026-12-03), that cost about 6,300 instructions per
header, 25,000 for the four rate-limit headers every REST response carries: more than
a quarter of what authentication and throttling add to a request. This cycle checks
every name with one `bytes.translate` over the names joined, and every value likewise
(a C loop, a fraction of a search's cost per byte): about 3,100 instructions per header,
and less than uvicorn for a head of three headers too. Same bytes on the wire, same
refusals of a bad name or value.

Only the usual head takes this path: a `transfer-encoding` or `connection` header, an
access log, a paused or closed transport, and every body message go to uvicorn's own
`send`, unchanged. It relies on uvicorn's RequestResponseCycle attributes
(pyproject.toml bounds the uvicorn version; tests/web/test_response_head.py holds this
cycle to uvicorn's bytes and state, case by case).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle

# The bytes HEADER_RE and HEADER_VALUE_RE look for, for bytes.translate, which deletes
# them in one C loop: a fifth of a regular expression search's cost per byte.
_NAME_FORBIDDEN = bytes([*range(0x20), 0x7F]) + b'()<>@,;:[]={} \t\\"'
_VALUE_FORBIDDEN = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F])
_NO_BODY_STATUSES = (204, 304)


class OnePassCycle(RequestResponseCycle):
    """uvicorn's request/response cycle with the usual response head written in one pass.

    Set as a cycle's class right after uvicorn builds it (see
    `http_limits.bounded_httptools`), before its ASGI task first runs.
    """

    async def send(self, message: Any) -> None:
        if (
            message["type"] != "http.response.start"
            or self.response_started
            or self.disconnected
            or self.flow.write_paused
            or self.access_log
        ):
            return await super().send(message)
        status = message["status"]
        head = [STATUS_LINE[status]]
        names = []
        values = []
        content_length = None
        for name, value in (*self.default_headers, *message.get("headers", ())):
            name = name.lower()
            if name == b"content-length":
                if content_length is None:
                    content_length = value  # the first one counts, as in uvicorn
            elif name == b"transfer-encoding" or name == b"connection":
                return await super().send(message)
            names.append(name)
            values.append(value)
            head += (name, b": ", value, b"\r\n")
        # Each check in one C loop over every name (value) joined: joining adds no byte
        # either looks for.
        joined = b"".join(names)
        if len(joined.translate(None, _NAME_FORBIDDEN)) != len(joined):
            raise RuntimeError("Invalid HTTP header name.")
        joined = b"".join(values)
        if len(joined.translate(None, _VALUE_FORBIDDEN)) != len(joined):
            raise RuntimeError("Invalid HTTP header value.")

        self.response_started = True
        self.waiting_for_100_continue = False
        if content_length is not None:
            self.expected_content_length = int(content_length.decode())
            self.chunked_encoding = False
        if not self.keep_alive:
            head.append(b"connection: close\r\n")
        if (
            self.chunked_encoding is None
            and self.scope["method"] != "HEAD"
            and status not in _NO_BODY_STATUSES
        ):
            self.chunked_encoding = True
            head.append(b"transfer-encoding: chunked\r\n")
        head.append(b"\r\n")
        self.transport.write(b"".join(head))
