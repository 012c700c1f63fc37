"""HTML form bodies read as JSON objects, with PHP's bracketed names."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from event_gateway.transcoding.form import MAX_DEPTH, MAX_FIELDS, FormError, read_form

URLENCODED = b"application/x-www-form-urlencoded"
MULTIPART = b"multipart/form-data"


def urlencoded(text: str) -> dict[str, object]:
    return read_form(text.encode(), URLENCODED, URLENCODED)


def multipart(parts: list[bytes], boundary: str = "----WebKitFormBoundary7MA4YWxkTrZu0gW") -> dict[str, object]:
    # The shape Chromium sends for navigator.sendBeacon(url, new FormData(...)).
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    body += b"--" + boundary.encode() + b"--\r\n"
    return read_form(body, MULTIPART, b"multipart/form-data; boundary=" + boundary.encode())


def field(name: str, value: str, extra: str = "") -> bytes:
    return f'Content-Disposition: form-data; name="{name}"{extra}\r\n\r\n{value}'.encode()


def test_urlencoded_fields_are_strings_and_brackets_nest() -> None:
    assert urlencoded(
        "tenant_slug=mi-negocio&value=150.00&transaction_id=txn+abc%2F1&empty="
        "&metadata%5Bsource%5D=catalog_page&metadata[page][n]=2&tags[]=a&tags[]=b"
        "&items[0][id]=p1&items[1][id]=p2&repeated=1&repeated=2"
    ) == {
        "tenant_slug": "mi-negocio", "value": "150.00", "transaction_id": "txn abc/1", "empty": "",
        "metadata": {"source": "catalog_page", "page": {"n": "2"}}, "tags": ["a", "b"],
        "items": [{"id": "p1"}, {"id": "p2"}], "repeated": "2",
    }  # fmt: skip


def test_php_array_rules_for_indices_and_names_that_are_not_brackets() -> None:
    # Sparse or named indices stay an object; "" appends after the highest index.
    assert urlencoded("a[3]=x&a[]=y") == {"a": {"3": "x", "4": "y"}}
    assert urlencoded("a[01]=x") == {"a": {"01": "x"}}
    assert urlencoded("a=1&a[b]=2") == {"a": {"b": "2"}}
    assert urlencoded("a[b]=1&a=2") == {"a": "2"}
    assert urlencoded("a]b=1&c[d=2&[e]=3") == {"a]b": "1", "c[d": "2", "[e]": "3"}
    assert urlencoded("") == {}


def test_raw_utf8_is_read_and_undecodable_bytes_are_refused() -> None:
    assert urlencoded("name=caf%C3%A9&city=Tegucigalpa+%C3%B1") == {"name": "café", "city": "Tegucigalpa ñ"}
    assert read_form("q=ñ".encode(), URLENCODED, URLENCODED) == {"q": "ñ"}
    for raw in (b"q=%FF", b"q=\xff"):
        with pytest.raises(FormError, match="UTF-8"):
            read_form(raw, URLENCODED, URLENCODED)


def test_limits_on_fields_and_nesting() -> None:
    assert len(urlencoded("&".join(f"f{i}=1" for i in range(MAX_FIELDS)))) == MAX_FIELDS
    with pytest.raises(FormError, match="more than 1000 fields"):
        urlencoded("&".join(f"f{i}=1" for i in range(MAX_FIELDS + 1)))
    assert urlencoded("a" + "[b]" * (MAX_DEPTH - 1) + "=1")
    with pytest.raises(FormError, match="nests more than"):
        urlencoded("a" + "[b]" * MAX_DEPTH + "=1")


def test_multipart_fields_files_ignored_and_values_kept_byte_for_byte() -> None:
    assert multipart([
        field("tenant_slug", "acme-store"),
        field("value", "99.5"),
        field("note", "two\r\nlines and --not-a-boundary"),
        field("metadata[source]", "beacon"),
        field("receipt", "%PDF-1.7", '; filename="r.pdf"\r\nContent-Type: application/pdf'),
        field("named", "é", "\r\nContent-Type: text/plain; charset=utf-8"),
    ]) == {
        "tenant_slug": "acme-store", "value": "99.5", "note": "two\r\nlines and --not-a-boundary",
        "metadata": {"source": "beacon"}, "named": "é",
    }  # fmt: skip


def test_multipart_boundary_may_be_quoted_and_a_preamble_is_skipped() -> None:
    body = b'preamble\r\n--a"b\r\n' + field("k", "v") + b'\r\n--a"b--\r\nepilogue'
    assert read_form(body, MULTIPART, b'multipart/form-data; boundary="a\\"b"') == {"k": "v"}


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (b"multipart/form-data", b"--x\r\n" + field("k", "v") + b"\r\n--x--", "boundary"),
        (b"multipart/form-data; boundary=" + b"x" * 71, b"", "boundary"),
        (b"multipart/form-data; boundary=x", b"--x\r\n" + field("k", "v"), "closing boundary"),
        (b"multipart/form-data; boundary=x", b"--x\r\nno blank line\r\n--x--", "malformed"),
        (b"multipart/form-data; boundary=x", b"--xjunk\r\n\r\nv\r\n--x--", "malformed"),
        (b"multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: attachment\r\n\r\nv\r\n--x--",
         "form-data name"),
        (b"multipart/form-data; boundary=x",
         b'--x\r\nContent-Disposition: form-data; name="k"\r\n\r\n\xff\r\n--x--', "not UTF-8"),
    ],
)
def test_malformed_multipart_is_refused_with_the_reason(content_type: bytes, body: bytes, message: str) -> None:
    with pytest.raises(FormError, match=message):
        read_form(body, MULTIPART, content_type)


_names = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


@given(st.dictionaries(_names, st.text(max_size=30)))
def test_a_flat_form_reads_back_as_the_mapping_that_was_encoded(fields: dict[str, str]) -> None:
    assert read_form(urlencode(fields).encode(), URLENCODED, URLENCODED) == fields
