"""Proto3 JSON codec compiled once per message type.

google.protobuf.json_format walks descriptors on every call and is the slowest step of a
REST request. Here each message type is compiled once (per CodecOptions) into closures
held in dispatch tables; orjson turns bytes into Python objects and back. Results agree
with json_format.Parse(ignore_unknown_fields=True) / MessageToJson: the same message, or
both fail. Deliberate differences are listed in tests/transcoding/test_codec.py
(test_divergence_*).

Public API: CodecOptions, MessageCodec, DecodeError. The compiling itself is in
codec_plans.py; this module holds the options, the per-type codec and its cache.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf.descriptor import Descriptor, EnumValueDescriptor, FieldDescriptor
from google.protobuf.message import Message

from event_gateway.transcoding.codec_plans import Plans
from event_gateway.transcoding.codec_scalar import DecodeContext, DecodeError

__all__ = ["CodecOptions", "DecodeError", "MessageCodec"]


@dataclass(frozen=True)
class CodecOptions:
    """How JSON is read and written. Hashable: codecs are cached per options."""

    # As grpc-gateway and Envoy: unknown fields and unknown enum names are dropped.
    ignore_unknown_fields: bool = True
    # Another spelling of an enum value (used for input and output when it returns a
    # string); the proto name and the number are still accepted on input.
    enum_json_value: Callable[[EnumValueDescriptor], str | None] | None = None
    # Accept an enum only by its documented spelling (that alias, else the proto name):
    # a number, the other name or an unknown string is refused ("invalid"), never
    # dropped. For APIs whose clients know enums as strings checked against a list.
    strict_enums: bool = False
    # Applied to a request's parsed JSON before it is read, and returning the JSON to
    # read instead: a framework's input middleware (say, one that trims strings and
    # reads "" as null), so the message holds what that framework's handlers saw.
    # Undecodable values are still reported as sent. None: the JSON as sent.
    clean_input: Callable[[Any], Any] | None = None
    # A JSON array where a google.protobuf.Struct is expected is read as the object
    # keyed by its indexes ("0", "1", ...); `[]` is an empty object. For APIs whose
    # framework reads both into one kind of value (PHP's arrays). False: refused.
    arrays_as_structs: bool = False
    # Fields the JSON form leaves out: never printed, and read as unknown keys are.
    # For a field an API's documented JSON body does not have.
    omitted_field: Callable[[FieldDescriptor], bool] | None = None
    # Fields (with presence) printed as null when unset, for a documented JSON body
    # that always carries the key.
    null_when_unset: Callable[[FieldDescriptor], bool] | None = None
    # Print fields without presence even when they hold their default.
    emit_unpopulated: bool = False
    # Print proto field names instead of lowerCamelCase json names.
    use_proto_names: bool = False
    # Nesting deeper than this many messages is refused (never a RecursionError).
    max_depth: int = 64


@dataclass(frozen=True, slots=True)
class ElementFailure:
    """One list element `MessageCodec.decode_elements` could not decode (or, with index
    -1, one top-level field `MessageCodec.decode_fields` left out)."""

    index: int
    path: str  # within the element (or message), as DecodeError.path ("" for the element)
    reason: str  # DecodeError.reason: type, invalid, range, depth
    detail: str  # what is wrong, without the path
    value: Any  # the element (or the field's value) as sent (parsed JSON)


_TOP_KEY = re.compile(r"[^.\[]+")


def top_level_key(path: str) -> str | None:
    """The top-level key of a DecodeError path: "value", "items" of "items[2].name"."""
    found = _TOP_KEY.match(path)
    return found.group() if found else None


class MessageCodec:
    """JSON ↔ message for one message type; get one with for_descriptor."""

    def __init__(self, descriptor: Descriptor, plans: Plans) -> None:
        self.descriptor = descriptor
        self.options = plans.options
        self._plans = plans
        self._cls = plans.message_class(descriptor)
        # Compilation is finished here, so the slots' contents are final.
        self._fill = plans.finished_filler(descriptor)
        self._encode = plans.finished_encoder(descriptor)
        self._clean = plans.options.clean_input

    @classmethod
    def for_descriptor(
        cls, descriptor: Descriptor, options: CodecOptions | None = None
    ) -> MessageCodec:
        return _CACHE.codec(descriptor, options or CodecOptions())

    def decode(self, data: bytes | bytearray | memoryview | str) -> Message:
        """A new message from JSON text (an object, or the type's special JSON form)."""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        elif not isinstance(data, bytes):
            data = bytes(data)
        try:
            obj = parse_json(data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError("syntax", f"invalid JSON: {exc}") from None
        if self._clean is not None:
            obj = self._clean(obj)
        ctx = DecodeContext()
        message = self._cls()
        try:
            self._fill(obj, message, ctx, 1)
            _check_duplicate_keys(data, ctx.keys)
        except RecursionError:  # only with a max_depth beyond Python's own stack
            raise DecodeError("depth", "nesting too deep") from None
        return message

    def decode_value(self, obj: Any, message: Message | None = None) -> Message:
        """Fill a message (a new one unless given) from an already parsed JSON value."""
        return self._fill_value(self._cleaned(obj), message)

    def _cleaned(self, obj: Any) -> Any:
        return obj if self._clean is None else self._clean(obj)

    def _fill_value(self, obj: Any, message: Message | None = None) -> Message:
        """`decode_value` of JSON already cleaned (`CodecOptions.clean_input`)."""
        if message is None:
            message = self._cls()
        try:
            self._fill(obj, message, DecodeContext(), 1)
        except RecursionError:
            raise DecodeError("depth", "nesting too deep") from None
        return message

    def decode_elements(
        self, obj: Any, field: FieldDescriptor
    ) -> tuple[Message, list[ElementFailure]]:
        """`decode_value`, except that `field` (a repeated message field of this type) is
        decoded element by element: an element that cannot be decoded is reported and
        left as an empty message at its index, so the others keep their positions. Any
        other undecodable part still fails the whole message."""
        cleaned = self._cleaned(obj)
        if not isinstance(cleaned, dict):
            return self._fill_value(cleaned), []
        rest = dict(cleaned)
        keys = [key for key in {field.json_name, field.name} if key in rest]
        items = [rest.pop(key) for key in keys]
        message = self._fill_value(rest)
        if len(items) != 1 or not isinstance(items[0], list):
            # Absent, both spellings, or not a list: the whole-message rules answer.
            return self._fill_value(cleaned), []
        element = MessageCodec(field.message_type, self._plans)
        target = getattr(message, field.name)
        failures: list[ElementFailure] = []
        for index, item in enumerate(items[0]):
            try:
                target.append(element._fill_value(item))
            except DecodeError as err:
                target.add()
                sent = _as_sent(obj, (keys[0], index), item)
                failures.append(ElementFailure(index, err.path, err.reason, err.detail, sent))
        return message, failures

    def decode_fields(self, obj: Any) -> tuple[Message, list[ElementFailure]]:
        """`decode_value`, except that a top-level field whose value cannot be decoded is
        left unset and reported (index -1, its value as sent), so the rest still arrives.
        Anything else undecodable (the object itself) still fails."""
        cleaned = self._cleaned(obj)
        if not isinstance(cleaned, dict):
            return self._fill_value(cleaned), []
        rest = dict(cleaned)
        failures: list[ElementFailure] = []
        while True:  # ends: every failure takes a key out of `rest`
            try:
                return self._fill_value(rest), failures
            except DecodeError as err:
                key = top_level_key(err.path)
                if key is None or key not in rest:
                    raise
                sent = _as_sent(obj, (key,), rest.pop(key))
                failures.append(ElementFailure(-1, err.path, err.reason, err.detail, sent))

    def decode_into_field(self, message: Message, field_name: str, obj: Any) -> None:
        """Fill one field of message from a parsed JSON value (e.g. an HTTP body bound
        to a field; a list for a repeated field). Error paths are relative to obj."""
        handler = self._plans.field_handler(self.descriptor, field_name)
        handler(message, obj, DecodeContext(), 1)

    def encode(self, message: Message) -> bytes:
        return orjson.dumps(self._encode(message))

    def encode_value(self, message: Message) -> Any:
        """The JSON value of the message as Python objects (dict for most types)."""
        return self._encode(message)


def parse_json(data: bytes) -> Any:
    """JSON text as Python values, read by orjson, except that a lone UTF-16 surrogate
    escape ("\\ud83d" without its pair) becomes U+FFFD instead of failing the whole text,
    and a leading UTF-8 byte order mark is skipped.

    JSON.stringify writes such an escape for a string cut inside an emoji (JavaScript
    strings are UTF-16), and the text is valid JSON; refusing it lost every event of the
    request. Go's encoding/json, under grpc-gateway, reads it as U+FFFD too. Raises
    orjson.JSONDecodeError for text that is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        error = exc
    if data[:3] == _UTF8_BOM:
        # RFC 8259 §8.1 lets a parser ignore a byte order mark; Windows tools write one,
        # and Python's json and Node's body parsers skip it.
        data = data[3:]
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            error = exc
    if "surrogate" not in str(error):
        raise error
    # Only after that failure: the standard library keeps lone surrogates in its strings.
    try:
        value = json.loads(data, parse_constant=_not_json)
        return _without_lone_surrogates(value)
    except RecursionError:
        raise orjson.JSONDecodeError("nesting too deep", "", 0) from None
    except ValueError as exc:  # the text has another fault as well
        raise orjson.JSONDecodeError(str(exc), "", 0) from None


_UTF8_BOM = b"\xef\xbb\xbf"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python's json takes them


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value


def _as_sent(obj: Any, path: tuple[str | int, ...], cleaned: Any) -> Any:
    """The value at `path` of the JSON as sent, for reports: a failure is described with
    what the client wrote, not with what `clean_input` made of it (`cleaned`, which is
    returned should the cleaning have moved it)."""
    for step in path:
        try:
            obj = obj[step]
        except (KeyError, IndexError, TypeError):
            return cleaned
    return obj


# ---------------------------------------------------------------- duplicate keys

# json_format refuses duplicate object keys; orjson silently keeps the last one. A
# cheap exact-enough test: when no key is followed by whitespace before its colon and
# no string holds an escaped quote, every '":' in the text ends a key, so their count
# equals the number of keys in the text. The decoders count the keys they see; fewer
# seen than written means a duplicate (or an unvisited subtree): recheck slowly.
_SPACED_COLON = re.compile(rb'"[ \t\r\n]+:')


def _check_duplicate_keys(data: bytes, seen: int) -> None:
    # Cheapest first: with no colon inside any string, every colon ends a key.
    if data.count(b":") == seen:
        return
    if data.count(b'":') == seen and b'\\"' not in data and not _SPACED_COLON.search(data):
        return
    try:
        json.loads(data, object_pairs_hook=_refuse_duplicates)
    except _DuplicateKey as exc:
        raise DecodeError("duplicate", f"duplicate key {exc.args[0]!r}") from None
    except RecursionError:  # ~1000 levels inside an ignored field; json_format fails too
        raise DecodeError("depth", "nesting too deep") from None


class _DuplicateKey(Exception):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _CodecCache:
    """The one cache: compiled plans per CodecOptions, codecs per (descriptor, options)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[CodecOptions, Plans] = {}
        self._codecs: dict[tuple[Descriptor, CodecOptions], MessageCodec] = {}

    def codec(self, descriptor: Descriptor, options: CodecOptions) -> MessageCodec:
        key = (descriptor, options)
        codec = self._codecs.get(key)
        if codec is None:
            with self._lock:
                codec = self._codecs.get(key)
                if codec is None:
                    plans = self._plans.get(options)
                    if plans is None:
                        plans = self._plans[options] = Plans(options)
                    codec = self._codecs[key] = MessageCodec(descriptor, plans)
        return codec


_CACHE = _CodecCache()
