"""Logging set-up: plain text or JSON lines, and no secret ever written.

`configure_logging(settings)` installs one stderr handler on the root logger. Access
lines come from the "event_gateway.access" logger with their fields in
``record.access`` (a dict); the text formatter writes them as ``key=value`` pairs, the
JSON formatter as top-level keys.

Secrets: the gateway's own lines never include credentials, but a URL or metadata can
reach a log line from anywhere (an exception text, a library's debug line). So every
formatted line goes through `redact`, which masks the credential headers
(authorization, x-api-key) and query parameters (key, api_key) wherever they appear.
`redact_url` and `redact_metadata` are there for code that logs such values on purpose.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import logging.handlers
import queue
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from event_gateway.config import Settings

ACCESS_LOGGER = "event_gateway.access"
MASK = "***"
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization", "cookie"})
SECRET_PARAMS = frozenset({"key", "api_key", "apikey", "token", "access_token"})

# `key=...` / `api_key=...` in a query string; `Authorization: Bearer x`; `x-api-key: x`
# and the same written as Python/JSON pairs ("('x-api-key', 'x')", '"x-api-key": "x"').
_QUERY = re.compile(r"([?&;](?:api_?key|key|token|access_token)=)[^&#\s'\"]*", re.IGNORECASE)
_HEADER = re.compile(
    r"((?:authorization|x-api-key|proxy-authorization)['\"]?\s*[:=,]\s*['\"]?)"
    r"(?:(?:bearer|basic)\s+)?[^\s'\",)}]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(\bbearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


# Every pattern above needs one of these words; most lines (every access line) have
# none, and one lower-cased scan is far cheaper than three regex passes.
_SECRET_WORDS = ("key", "token", "authorization", "bearer")


def redact(text: str) -> str:
    """`text` with every credential-looking value masked."""
    if not text:
        return text
    lowered = text.lower()
    if not any(word in lowered for word in _SECRET_WORDS):
        return text
    text = _QUERY.sub(rf"\1{MASK}", text)
    text = _HEADER.sub(rf"\1{MASK}", text)
    return _BEARER.sub(rf"\1{MASK}", text)


def redact_url(url: str) -> str:
    """The URL with the values of credential query parameters masked."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [
        (k, MASK if k.lower() in SECRET_PARAMS else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="*")))


def redact_metadata(
    metadata: Iterable[tuple[str, Any]] | Mapping[str, Any],
) -> list[tuple[str, Any]]:
    """Metadata or headers with credential values masked (names kept, for debugging)."""
    items = metadata.items() if isinstance(metadata, Mapping) else metadata
    return [(k, MASK if str(k).lower() in SECRET_HEADERS | SECRET_PARAMS else v) for k, v in items]


class TextFormatter(logging.Formatter):
    """``2026-11-22 11:26:12,345 INFO logger message [key=value ...]``.

    Written out rather than through `logging.Formatter.format` for the plain case (one
    access line per request, formatted on the listener thread while it holds the GIL):
    the time prefix is built once per second, not with strftime per line. Lines with
    an exception or stack go through the standard path, which appends those.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            line = super().format(record)
        else:
            line = f"{self._asctime(record)} {record.levelname} {record.name} {record.getMessage()}"
        access = getattr(record, "access", None)
        if access:
            line += " " + " ".join([f"{k}={_text_value(v)}" for k, v in access.items()])
        return redact(line)

    def _asctime(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second_text = self.formatTime(record).rpartition(",")[0]
            self._second = second
        return f"{self._second_text},{int(record.msecs):03d}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if access:
            out.update(access)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, default=str, separators=(",", ":")))


_NEEDS_QUOTES = re.compile(r'[ "=]')


def _text_value(value: Any) -> str:
    text = value if type(value) is str else str(value)
    return json.dumps(text) if (not text or _NEEDS_QUOTES.search(text)) else text


def configure_logging(settings: Settings, stream: Any = None) -> LineWriter:
    """Route every logger (ours, grpc's, uvicorn's) to one formatted stderr handler.

    Records are handed to a queue and written by a listener thread: a slow stderr (a
    pipe to a busy collector) must not stall the event loop for one access line per
    request. The listener is stopped, and the queue flushed, by the returned object's
    `stop()`, and at interpreter exit in case the caller does not.
    """
    output = logging.StreamHandler(stream if stream is not None else sys.stderr)
    output.setFormatter(JsonFormatter() if settings.log_json else TextFormatter())
    records: queue.SimpleQueue[Any] = queue.SimpleQueue()
    handler = _PlainQueueHandler(records)
    listener = LineWriter(records, output, before_stop=handler.hand_over_all)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # No formatter of ours prints the process or thread, and looking them up is a
    # large part of making a record (one per request for the access line).
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    # uvicorn installs its own handlers unless told not to (log_config=None); make its
    # loggers propagate to ours either way.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    listener.start()
    atexit.register(_stop_quietly, listener)
    return listener


class _PlainQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the listener thread without formatting them on the caller's.

    The standard `prepare` formats every record and copies it, so that arguments that
    might change later are frozen into text; on the event loop that cost was paid once
    per request for the access line. A record without arguments or exception (the
    access line: its fields are a fresh dict of plain values) has nothing to freeze,
    so it is passed as is; any other record takes the standard path.
    """

    def __init__(self, records: queue.SimpleQueue[Any]) -> None:
        super().__init__(records)
        # Records logged on a running event loop, held until the end of its current
        # iteration and handed over as one item: a put wakes the writer thread (a
        # futex call), and under load that was one wake-up per request.
        self._held: dict[asyncio.AbstractEventLoop, list[logging.LogRecord]] = {}

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if not record.args and not record.exc_info and not record.stack_info:
            return record
        return super().prepare(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            item = self.prepare(record)
        except Exception:
            self.handleError(record)
            return
        loop = asyncio._get_running_loop()
        if loop is None:
            self.queue.put_nowait(item)
            return
        held = self._held.get(loop)
        if held is None:
            try:
                loop.call_soon(self._hand_over, loop)
            except RuntimeError:  # the loop is closing: no later iteration to wait for
                self.queue.put_nowait(item)
                return
            held = self._held[loop] = []
        held.append(item)

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        held = self._held.pop(loop, None)
        if held:
            self.queue.put_nowait(held)

    def hand_over_all(self) -> None:
        """Queue whatever is still held, e.g. by a loop that stopped before its next turn."""
        for loop in list(self._held):
            self._hand_over(loop)


def _stop_quietly(listener: LineWriter) -> None:
    listener.stop()  # a no-op when the caller stopped it already


_STOP = object()


class LineWriter:
    """The thread that writes queued records: whatever has queued up, in one write.

    `logging.handlers.QueueListener` handles records one by one, each with the
    handler's lock and its own write and flush; under load (one access line per
    request) that is a system call per line. This drains the queue, formats each
    record with the handler's formatter, and writes the lines with one write and one
    flush. `stop()` writes what was queued before it, then ends the thread.
    """

    def __init__(
        self,
        records: queue.SimpleQueue[Any],
        output: logging.StreamHandler[Any],
        batch: int = 512,
        before_stop: Callable[[], None] | None = None,
    ) -> None:
        """`records` holds LogRecords, or lists of them handed over together."""
        self._records = records
        self._output = output
        self._batch = batch
        self._before_stop = before_stop
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._before_stop is not None:
            self._before_stop()
        self._records.put(_STOP)
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        records, output = self._records, self._output
        while True:
            batch: list[Any] = []
            item = records.get()
            while True:
                if isinstance(item, list):
                    batch.extend(item)
                else:
                    batch.append(item)
                if len(batch) >= self._batch:
                    break
                try:
                    item = records.get_nowait()
                except queue.Empty:
                    break
            lines = []
            stopping = False
            last = None
            for record in batch:
                if record is _STOP:
                    stopping = True
                    continue
                last = record
                try:
                    lines.append(output.format(record))
                except Exception:
                    output.handleError(record)
            if lines and last is not None:
                self._write("\n".join(lines) + "\n", last)
            if stopping:
                return

    def _write(self, text: str, record: logging.LogRecord) -> None:
        try:
            self._output.stream.write(text)
            self._output.flush()
        except Exception:
            self._output.handleError(record)
