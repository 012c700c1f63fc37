import gzip
from typing import Any

import pytest

from event_gateway.transcoding.body import (
    BodyError, BodyLimits, ClientDisconnected, check_content_encoding, check_media_type, gunzip,
    read_body,
)

LIMITS = BodyLimits(max_body_bytes=100, max_decompressed_bytes=1000)


def receiver(*chunks: bytes, disconnect: bool = False) -> Any:
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    if disconnect:
        messages = [{"type": "http.request", "body": chunks[0], "more_body": True},
                    {"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)
    return receive


async def test_reads_chunks() -> None:
    assert await read_body(receiver(b"ab", b"cd"), None, False, LIMITS) == b"abcd"


async def test_content_length_over_limit_refused_before_reading() -> None:
    async def never() -> dict[str, Any]:
        raise AssertionError("read")
    with pytest.raises(BodyError) as err:
        await read_body(never, 101, False, LIMITS)
    assert err.value.http_status == 413


async def test_stream_cut_at_limit() -> None:
    with pytest.raises(BodyError) as err:
        await read_body(receiver(b"x" * 60, b"x" * 60), None, False, LIMITS)
    assert err.value.http_status == 413


async def test_disconnect() -> None:
    with pytest.raises(ClientDisconnected):
        await read_body(receiver(b"x", disconnect=True), None, False, LIMITS)


async def test_gzip_and_bomb() -> None:
    assert await read_body(receiver(gzip.compress(b"{}")), None, True, LIMITS) == b"{}"
    with pytest.raises(BodyError) as err:
        await read_body(receiver(gzip.compress(b" " * 5000)), None, True, LIMITS)
    assert err.value.http_status == 413


def test_gunzip_multi_member_and_corrupt() -> None:
    assert gunzip(gzip.compress(b"ab") + gzip.compress(b"cd"), 10) == b"abcd"
    with pytest.raises(BodyError) as err:
        gunzip(b"\x1f\x8bnot gzip", 10)
    assert err.value.http_status == 400
    with pytest.raises(BodyError):
        gunzip(gzip.compress(b"abcdef")[:-6], 10)


@pytest.mark.parametrize("value", [None, b"application/json", b"Application/JSON; charset=utf-8",
                                   b"text/plain;charset=UTF-8", b"application/vnd.api+json"])
def test_json_media_types(value: bytes | None) -> None:
    assert check_media_type(value) is None
    assert check_media_type(value, forms=True) is None


@pytest.mark.parametrize(("value", "media"), [
    (b"application/x-www-form-urlencoded", b"application/x-www-form-urlencoded"),
    (b"Multipart/Form-Data; boundary=----x", b"multipart/form-data"),
    (b"application/x-www-form-urlencoded;charset=UTF-8", b"application/x-www-form-urlencoded"),
])
def test_form_media_types_only_where_forms_are_read(value: bytes, media: bytes) -> None:
    assert check_media_type(value, forms=True) == media
    with pytest.raises(BodyError) as err:
        check_media_type(value)
    assert err.value.http_status == 415


def test_a_form_in_another_charset_is_415() -> None:
    with pytest.raises(BodyError) as err:
        check_media_type(b"application/x-www-form-urlencoded; charset=iso-8859-1", forms=True)
    assert err.value.http_status == 415 and "form must be UTF-8" in err.value.message


@pytest.mark.parametrize("value", [b"application/xml", b"multipart/form-data; boundary=x",
                                   b"application/x-www-form-urlencoded",
                                   b"application/json; charset=latin-1"])
def test_other_media_types_are_415(value: bytes) -> None:
    with pytest.raises(BodyError) as err:
        check_media_type(value)
    assert err.value.http_status == 415


def test_content_encodings() -> None:
    assert check_content_encoding(None) is False
    assert check_content_encoding(b"identity") is False
    assert check_content_encoding(b"GZIP") is True
    with pytest.raises(BodyError) as err:
        check_content_encoding(b"br")
    assert err.value.http_status == 415
