"""Log formats and redaction: no credential ever reaches a log line."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from event_gateway.config import Settings
from event_gateway.observability.logging import (
    TextFormatter,
    configure_logging,
    redact,
    redact_metadata,
    redact_url,
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("POST /create-events?api_key=s3cret&x=1", "s3cret"),
        ("POST /api/v1/events?key=s3cret", "s3cret"),
        ("Authorization: Bearer tok.en-s3cret", "tok.en-s3cret"),
        ("authorization=Basic dXNlcjpzM2NyZXQ=", "dXNlcjpzM2NyZXQ="),
        ("metadata=(('x-api-key', 's3cret'), ('user-agent', 'ua'))", "s3cret"),
        ('{"x-api-key": "s3cret"}', "s3cret"),
        ("X-API-KEY: s3cret", "s3cret"),
    ],
)
def test_redact_masks_credentials_anywhere(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "***" in redact(text)


def test_redact_keeps_other_text() -> None:
    line = "POST /api/v1/events?monkey=1 code=OK keyboard=2"
    assert redact(line) == line


def test_redact_url_and_metadata() -> None:
    assert redact_url("http://h/create-events?api_key=abc&dsid=1") == (
        "http://h/create-events?api_key=***&dsid=1"
    )
    assert redact_metadata([("x-api-key", "k"), ("authorization", "Bearer t"), ("a", "b")]) == [
        ("x-api-key", "***"), ("authorization", "***"), ("a", "b")
    ]


@pytest.fixture
def restore_root():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _emit(settings: Settings) -> str:
    stream = io.StringIO()
    listener = configure_logging(settings, stream)
    logging.getLogger("event_gateway.access").info(
        "access", extra={"access": {"api": "depict", "code": "OK", "ms": 1.5, "client_ip": "::1"}}
    )
    logging.getLogger("other").warning("GET /create-events?api_key=leak")
    listener.stop()
    return stream.getvalue()


def test_json_lines(restore_root: None) -> None:
    lines = _emit(Settings(log_json=True)).splitlines()
    access, other = (json.loads(line) for line in lines)
    assert access["logger"] == "event_gateway.access" and access["level"] == "info"
    assert (access["api"], access["code"], access["ms"], access["client_ip"]) == (
        "depict", "OK", 1.5, "::1")
    assert other["msg"] == "GET /create-events?api_key=***"


def test_text_lines(restore_root: None) -> None:
    text = _emit(Settings(log_json=False, log_level="debug"))
    assert "api=depict code=OK ms=1.5 client_ip=::1" in text
    assert "leak" not in text


def test_text_prefix_matches_the_standard_formatter() -> None:
    # TextFormatter builds the time prefix itself, once per second; it must read exactly
    # as logging.Formatter writes it.
    ours = TextFormatter()
    standard = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    for created in (1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.0425, 1_700_000_061.5):
        record = logging.LogRecord("x.y", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.format(record) == standard.format(record)


def test_every_queued_line_is_written_in_order_and_arguments_are_frozen(restore_root: None) -> None:
    stream = io.StringIO()
    listener = configure_logging(Settings(log_json=False), stream)
    log = logging.getLogger("event_gateway.access")
    changing = {"n": 0}
    for i in range(2000):
        changing["n"] = i
        log.info("call %s", changing)  # formatted when logged, not when written
    listener.stop()
    lines = stream.getvalue().splitlines()
    assert [line.rpartition("call ")[2] for line in lines] == [f"{{'n': {i}}}" for i in range(2000)]
    listener.stop()  # a second stop is harmless


def test_redact_checks_every_case_of_the_trigger_words() -> None:
    # The cheap pre-check must not let a spelling past that the patterns would catch.
    for text in ("X-Api-KEY: s3cret", "AUTHORIZATION: Basic s3cret", "q?TOKEN=s3cret", "BEARER s3cret"):
        assert "s3cret" not in redact(text)


def test_lines_logged_on_the_event_loop_are_written_in_order_even_when_the_loop_stops(restore_root: None) -> None:
    stream = io.StringIO()
    listener = configure_logging(Settings(log_json=False), stream)
    log = logging.getLogger("event_gateway.test")

    async def burst() -> None:
        for i in range(300):
            log.warning("line %d", i)
            if i % 100 == 99:
                await asyncio.sleep(0)  # an iteration ends: what it held is handed over
        log.warning("held when the loop stops")

    asyncio.run(burst())
    log.warning("after the loop")
    listener.stop()
    lines = stream.getvalue().splitlines()
    assert [line.rpartition(" WARNING event_gateway.test ")[2] for line in lines] == [
        *(f"line {i}" for i in range(300)), "held when the loop stops", "after the loop"
    ]
