"""HTML form bodies read as the JSON object a form-reading framework would see.

`application/x-www-form-urlencoded` and `multipart/form-data` (what `<form>`,
`navigator.sendBeacon(url, new FormData(...))` and `URLSearchParams` send) become a JSON
object of strings, with bracketed names nested the way PHP and Rails read them:
`metadata[source]=x` is `{"metadata": {"source": "x"}}`, `items[]=a&items[]=b` is
`{"items": ["a", "b"]}`, `items[0][id]=a` is `{"items": [{"id": "a"}]}`. A repeated
plain name keeps its last value (PHP). File parts are not form fields and are ignored.
Every value is a string: the codec reads ProtoJSON's string forms of numbers.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

MAX_FIELDS = 1000  # PHP's max_input_vars
MAX_DEPTH = 32  # PHP's max_input_nesting_level is 64; forms people build nest far less

_NAME = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAMETER = re.compile(rf';\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')


class FormError(ValueError):
    """A form body that cannot be read; the message says why (a 400)."""


def read_form(raw: bytes, media: bytes, content_type: bytes) -> dict[str, Any]:
    """The fields of a form body of media type `media` (lower case, no parameters)."""
    if media == b"multipart/form-data":
        fields = _multipart_fields(raw, content_type)
    else:
        fields = _urlencoded_fields(raw)
    return _nest(fields)


def _urlencoded_fields(raw: bytes) -> list[tuple[str, str]]:
    try:
        text = raw.decode("utf-8")  # browsers percent-encode; curl -d may not
        return parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise FormError("form body is not UTF-8") from None
    except ValueError:
        raise FormError(f"form body has more than {MAX_FIELDS} fields") from None


def _multipart_fields(raw: bytes, content_type: bytes) -> list[tuple[str, str]]:
    """RFC 7578: parts between `--boundary` lines, each with a Content-Disposition name."""
    boundary = _parameters(content_type.decode("latin-1")).get("boundary", "")
    if not 0 < len(boundary) <= 70:
        raise FormError("multipart body without a valid boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + raw).split(delimiter)
    fields: list[tuple[str, str]] = []
    for chunk in chunks[1:]:  # chunks[0] is the preamble
        if chunk.startswith(b"--"):
            return fields
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator or not head.lstrip(b" \t").startswith(b"\r\n"):
            raise FormError("malformed multipart part")
        disposition = _header(head, b"content-disposition")
        params = _parameters(disposition)
        if not disposition.lower().startswith("form-data") or "name" not in params:
            raise FormError("multipart part without a form-data name")
        if "filename" in params:
            continue
        if len(fields) >= MAX_FIELDS:
            raise FormError(f"form body has more than {MAX_FIELDS} fields")
        try:
            fields.append((params["name"], content.decode("utf-8")))
        except UnicodeDecodeError:
            raise FormError(f"form field {params['name']!r} is not UTF-8") from None
    raise FormError("multipart body ends before its closing boundary")


def _header(head: bytes, name: bytes) -> str:
    for line in head.split(b"\r\n"):
        key, colon, value = line.partition(b":")
        if colon and key.strip().lower() == name:
            return value.strip().decode("utf-8", "replace")
    return ""


def _parameters(header: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in _PARAMETER.findall(header):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found[name.lower()] = value
    return found


def _nest(fields: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[Any, Any] = {}
    for name, value in fields:
        match = _NAME.fullmatch(name)
        path: list[str] = [match.group(1), *_SEGMENT.findall(match.group(2))] if match else [name]
        if len(path) > MAX_DEPTH:
            raise FormError(f"form field {name!r} nests more than {MAX_DEPTH} levels")
        _assign(root, path, value)
    return _as_json(root)  # type: ignore[no-any-return]


def _assign(node: dict[Any, Any], path: list[str], value: str) -> None:
    # PHP's arrays: "" appends at the next integer index, a decimal name is that index.
    for position, segment in enumerate(path):
        key: Any = segment
        if segment == "":
            key = max((k for k in node if isinstance(k, int)), default=-1) + 1
        elif segment.isdecimal() and segment == str(int(segment)):
            key = int(segment)
        if position == len(path) - 1:
            node[key] = value
            return
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child


def _as_json(node: Any) -> Any:
    """Dicts keyed 0..n-1 become lists (as PHP's json_encode writes them)."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node) and sorted(node) == list(range(len(node))):
        return [_as_json(node[k]) for k in sorted(node)]
    return {str(k): _as_json(v) for k, v in node.items()}
