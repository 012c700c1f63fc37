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

import atexit
import json
import logging
import logging.handlers
import queue
import re
import sys
from collections.abc import Iterable, Mapping
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


def redact(text: str) -> str:
    """`text` with every credential-looking value masked."""
    if not text:
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
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        access = getattr(record, "access", None)
        if access:
            line += " " + " ".join(f"{k}={_text_value(v)}" for k, v in access.items())
        return redact(line)


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


def _text_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (not text or any(c in text for c in " \"=")) else text


def configure_logging(settings: Settings, stream: Any = None) -> logging.handlers.QueueListener:
    """Route every logger (ours, grpc's, uvicorn's) to one formatted stderr handler.

    Records are handed to a queue and written by a listener thread: a slow stderr (a
    pipe to a busy collector) must not stall the event loop for one access line per
    request. The listener is stopped, and the queue flushed, by the returned object's
    `stop()`, and at interpreter exit in case the caller does not.
    """
    output = logging.StreamHandler(stream if stream is not None else sys.stderr)
    output.setFormatter(JsonFormatter() if settings.log_json else TextFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, output, respect_handler_level=False)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(logging.handlers.QueueHandler(records))
    root.setLevel(settings.log_level.upper())
    # uvicorn installs its own handlers unless told not to (log_config=None); make its
    # loggers propagate to ours either way.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    listener.start()
    atexit.register(_stop_quietly, listener)
    return listener


def _stop_quietly(listener: logging.handlers.QueueListener) -> None:
    if listener._thread is not None:  # stop() twice raises; the caller may have stopped it
        listener.stop()
