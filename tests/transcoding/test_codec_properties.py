"""Property-based tests: the compiled codec agrees with google.protobuf.json_format.

1. Random messages of the rich test type: encode equals MessageToJson (as JSON values),
   and decoding json_format's output gives the original message back.
2. Random JSON, shaped by the message's fields but full of wrong types, bad strings,
   nulls and unknown keys: decode gives json_format.Parse(ignore_unknown_fields=True)'s
   message, or both fail. Inputs on which the codec deliberately differs (the
   test_divergence_* tests in test_codec.py) are not generated; see _junk().
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2, duration_pb2, json_format, struct_pb2, wrappers_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import assume, HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from codec_support import codec_test_pb2  # noqa: E402

from event_gateway.transcoding.codec import CodecOptions, DecodeError, MessageCodec  # noqa: E402

pb = codec_test_pb2()
Rich = pb.Rich
FD = FieldDescriptor
# CODEC_EXAMPLES scales every property up for a longer hunt (e.g. 10 for 10x examples).
_SCALE = float(os.environ.get("CODEC_EXAMPLES", "1"))
# Derandomized by default so CI sees the same examples every run; a longer hunt
# (CODEC_EXAMPLES > 1) explores freely and may find new divergences to pin.
SETTINGS = settings(deadline=None, max_examples=int(300 * _SCALE), derandomize=_SCALE <= 1,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SMALL = settings(SETTINGS, max_examples=int(120 * _SCALE))

_INT_BOUNDS = {
    FD.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FD.CPPTYPE_UINT32: (0, 2**32 - 1),
    FD.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FD.CPPTYPE_UINT64: (0, 2**64 - 1),
}
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
_FINITE = st.floats(allow_nan=False, allow_infinity=False)


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


# ================================================================== random messages


def _json_value(depth: int = 3) -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | _FINITE | _TEXT
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
        max_leaves=8,
    )


def _value_message(obj: Any) -> struct_pb2.Value:
    return json_format.ParseDict(obj, struct_pb2.Value())


_SEGMENT = st.from_regex(r"[a-z]{1,4}(_[a-z]{1,4})?", fullmatch=True)


def _wkt_message(descriptor: Descriptor) -> st.SearchStrategy[Any] | None:
    name = descriptor.full_name
    cls = _class(descriptor)
    if descriptor.file.name == "google/protobuf/wrappers.proto":
        return _scalar(descriptor.fields_by_name["value"]).map(lambda v: cls(value=v))
    if name == "google.protobuf.Timestamp":
        return st.builds(cls, seconds=st.integers(-62135596800, 253402300799),
                         nanos=st.integers(0, 999_999_999))
    if name == "google.protobuf.Duration":
        return st.integers(-315576000000, 315576000000).flatmap(
            lambda s: st.builds(cls, seconds=st.just(s), nanos=st.integers(0, 999_999_999).map(
                lambda n: -n if s < 0 else n)))
    if name == "google.protobuf.FieldMask":
        return st.lists(st.lists(_SEGMENT, min_size=1, max_size=3).map(".".join),
                        max_size=3).map(lambda paths: cls(paths=paths))
    if name == "google.protobuf.Value":
        return _json_value().map(_value_message)
    if name == "google.protobuf.Struct":
        return st.dictionaries(_TEXT, _json_value(), max_size=3).map(
            lambda d: json_format.ParseDict(d, cls()))
    if name == "google.protobuf.ListValue":
        return st.lists(_json_value(), max_size=3).map(lambda v: json_format.ParseDict(v, cls()))
    if name == "google.protobuf.Any":
        packable = st.one_of(
            _message(pb.Inner.DESCRIPTOR, 1),
            st.builds(duration_pb2.Duration, seconds=st.integers(-100, 100)),
            st.builds(wrappers_pb2.Int64Value, value=st.integers(-5, 5)),
            st.dictionaries(_TEXT, _json_value(), max_size=2).map(
                lambda d: json_format.ParseDict(d, struct_pb2.Struct())),
        )

        def pack(inner: Any) -> any_pb2.Any:
            out = any_pb2.Any()
            out.Pack(inner)
            return out

        return st.just(any_pb2.Any()) | packable.map(pack)
    return None


def _class(descriptor: Descriptor) -> type:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    cpp = field.cpp_type
    if cpp in _INT_BOUNDS:
        return st.integers(*_INT_BOUNDS[cpp])
    # NaN payloads do not survive text, so only the canonical NaN is generated.
    if cpp == FD.CPPTYPE_DOUBLE:
        return st.floats(allow_nan=False) | st.just(math.nan)
    if cpp == FD.CPPTYPE_FLOAT:
        return st.floats(width=32, allow_nan=False) | st.just(math.nan)
    if cpp == FD.CPPTYPE_BOOL:
        return st.booleans()
    if cpp == FD.CPPTYPE_ENUM:
        if field.enum_type.full_name == "google.protobuf.NullValue":
            return st.just(0)  # any number prints as null, which reads back as 0
        known = [v.number for v in field.enum_type.values]
        return st.sampled_from(known) | st.integers(-10, 100)
    if field.type == FD.TYPE_BYTES:
        return st.binary(max_size=8)
    return _TEXT


def _message(descriptor: Descriptor, depth: int) -> st.SearchStrategy[Any]:
    special = _wkt_message(descriptor)
    if special is not None:
        return special
    cls = _class(descriptor)
    fields = [f for f in descriptor.fields if depth > 0 or f.message_type is None
              or f.message_type.full_name != descriptor.full_name]
    values = {f.name: _field_value(f, depth - 1) for f in fields}

    @st.composite
    def build(draw: Any) -> Any:
        message = cls()
        chosen = draw(st.lists(st.sampled_from(fields), max_size=8, unique=True)) if fields else []
        for field in chosen:
            _assign(message, field, draw(values[field.name]))
        return message

    return build()


def _field_value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if _is_map(field):
        key = _scalar(field.message_type.fields_by_name["key"])
        value = _single(field.message_type.fields_by_name["value"], depth)
        return st.dictionaries(key, value, max_size=3)
    if field.is_repeated:
        return st.lists(_single(field, depth), max_size=3)
    return _single(field, depth)


def _single(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None:
        if field.message_type.full_name == "google.protobuf.Value":
            # A Value without a kind prints as null and reads back as null_value.
            return _json_value().map(_value_message)
        return st.deferred(lambda: _message(field.message_type, max(depth, 0)))
    return _scalar(field)


def _assign(message: Any, field: FieldDescriptor, value: Any) -> None:
    target = getattr(message, field.name)
    if _is_map(field):
        for key, item in value.items():
            if field.message_type.fields_by_name["value"].message_type is not None:
                target[key].CopyFrom(item)
            else:
                target[key] = item
    elif field.is_repeated:
        if field.message_type is not None:
            for item in value:
                target.add().CopyFrom(item)
        else:
            target.extend(value)
    elif field.message_type is not None:
        target.CopyFrom(value)
    else:
        setattr(message, field.name, value)


def _bytes_of(message: Any) -> bytes:
    return message.SerializeToString(deterministic=True)


@pytest.mark.parametrize("use_proto_names", [False, True])
@pytest.mark.parametrize("emit_unpopulated", [False, True])
def test_random_messages_encode_like_message_to_json_and_read_back(
        use_proto_names: bool, emit_unpopulated: bool) -> None:
    codec = MessageCodec.for_descriptor(Rich.DESCRIPTOR, CodecOptions(
        use_proto_names=use_proto_names, emit_unpopulated=emit_unpopulated))

    @SETTINGS
    @given(_message(Rich.DESCRIPTOR, 2))
    def check(message: Any) -> None:
        text = json_format.MessageToJson(message, preserving_proto_field_name=use_proto_names,
                                         always_print_fields_with_no_presence=emit_unpopulated)
        # json.loads turns the "NaN" strings back to strings, so NaN compares equal here.
        assert codec.encode_value(message) == json.loads(text)
        assert json.loads(codec.encode(message)) == json.loads(text)
        decoded = codec.decode(text.encode())
        # Any holds serialized bytes whose map order is not canonical: compare with what
        # json_format reads from the same text, and compare with the original as JSON.
        try:
            assert _bytes_of(decoded) == _bytes_of(json_format.Parse(text, Rich()))
        except json_format.ParseError:
            pass  # json_format cannot read its own float32 max (test_codec.py, divergence)
        assert json.loads(json_format.MessageToJson(
            decoded, preserving_proto_field_name=use_proto_names,
            always_print_fields_with_no_presence=emit_unpopulated)) == json.loads(text)
        assert _bytes_of(codec.decode(codec.encode(message))) == _bytes_of(decoded)

    check()


# ================================================================== random JSON


_ANY_URLS = [
    "type.googleapis.com/codectest.v1.Inner",
    "type.googleapis.com/google.protobuf.Duration",
    "type.googleapis.com/google.protobuf.Int32Value",
    "type.googleapis.com/google.protobuf.Struct",
    "type.googleapis.com/google.protobuf.Empty",
    "type.googleapis.com/nope.Missing",
]
_NUMBER_STRINGS = ["0", "1", "-1", " 1", "1.0", "1.5", "1e3", "+2", "1_0", "0x1", "", "x",
                   "NaN", "nan", "Infinity", "-Infinity", "inf", "9223372036854775808",
                   "18446744073709551615", "-9223372036854775808", "2147483648", "4294967296",
                   "3.5e38", "1e400", "true", "false"]
_INTS = st.sampled_from([0, 1, -1, 2, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**32 - 1,
                         2**32, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, 10**30]) \
    | st.integers(-1000, 1000)
_FLOATS = st.sampled_from([0.0, -0.0, 0.5, 1.0, -2.0, 1.5, 1e19, 3.5e38, -3.5e38, 1e300,
                           2.0**63, 2.0**64]) | _FINITE
_STRINGS = st.sampled_from(_NUMBER_STRINGS) | _TEXT | st.sampled_from(
    ["COLOR_RED", "COLOR_NOPE", "NULL_VALUE", "AQID", "_-8=", "a", "!!", "1s", "-1.5s",
     "2024-02-29T12:30:45Z", "2024-02-29T12:30:45+02:00", "2024-13-01T00:00:00Z", "a,bC.d",
     "a_b"])


def _junk(*, message: bool = False, number: bool = False, enum: bool = False) -> Any:
    """Wrong-typed values. Not generated where the codec deliberately refuses what
    json_format accepts: strings and arrays for messages, booleans for numbers and
    enums, fractional numbers for enums (see test_codec.py, test_divergence_*)."""
    options = [st.none(), _INTS, st.just({}), st.dictionaries(_TEXT, _INTS, max_size=2)]
    if not (number or enum):
        options.append(st.booleans())
    if not message:
        options += [_STRINGS, st.lists(_INTS, max_size=2)]
    if not enum or message:
        options.append(_FLOATS)
    elif enum:
        options.append(st.sampled_from([1.0, 0.0, -3.0]))
    return st.one_of(options)


def _json_for_scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    cpp = field.cpp_type
    if cpp in _INT_BOUNDS:
        return _INTS | _FLOATS | _STRINGS | _junk(number=True)
    if cpp in (FD.CPPTYPE_DOUBLE, FD.CPPTYPE_FLOAT):
        return _FLOATS | _INTS | _STRINGS | _junk(number=True)
    if cpp == FD.CPPTYPE_ENUM:
        names = [v.name for v in field.enum_type.values]
        return (st.sampled_from(names) | _INTS | _STRINGS | _junk(enum=True)).filter(
            _not_int64_min)
    if cpp == FD.CPPTYPE_BOOL:
        return st.booleans() | _junk()
    return _STRINGS | _junk()


def _not_int64_min(value: Any) -> bool:
    """upb stores -2**63 in an enum field as 0 (test_codec.py, divergence): not generated."""
    try:
        return int(value) != -(2**63)
    except (TypeError, ValueError, OverflowError):
        return True


def _json_for_message(descriptor: Descriptor, depth: int) -> st.SearchStrategy[Any]:
    name = descriptor.full_name
    if descriptor.file.name == "google/protobuf/wrappers.proto":
        return _json_for_scalar(descriptor.fields_by_name["value"])
    if name in ("google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue"):
        return _json_value() | _INTS
    if name in ("google.protobuf.Timestamp", "google.protobuf.Duration",
                "google.protobuf.FieldMask"):
        return _STRINGS | _junk()
    if name == "google.protobuf.Any":
        return st.one_of(
            st.just({}),
            _junk(message=True),
            st.builds(lambda url, rest: {"@type": url, **rest}, st.sampled_from(_ANY_URLS),
                      st.dictionaries(st.sampled_from(["a", "b", "value", "zz"]),
                                      st.sampled_from([1, "x", "1s", {}, None, [1]]),
                                      max_size=2)),
        )
    if depth < 0:
        return st.just({}) | _junk(message=True)
    keys: list[tuple[str, st.SearchStrategy[Any]]] = []
    for field in descriptor.fields:
        value = st.deferred(lambda field=field: _json_for_field(field, depth - 1))
        for key in {field.json_name, field.name}:
            keys.append((key, value))
    unknown = st.tuples(st.sampled_from(["nope", "[ext.x]", "F_INT32", "renamed_"]),
                        _json_value())

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        chosen = draw(st.lists(st.sampled_from(range(len(keys))), max_size=6, unique=True)
                      ) if keys else []
        out = {keys[i][0]: draw(keys[i][1]) for i in chosen}
        if draw(st.integers(0, 9)) == 0:
            key, value = draw(unknown)
            out[key] = value
        return out

    return build() | _junk(message=True)


def _json_for_field(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if _is_map(field):
        entry = field.message_type
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        keys = st.sampled_from(["1", "-1", "0", " 1", "1.0", "x", "true", "false", "2147483648",
                                "18446744073709551615", "-9223372036854775808"]) | _TEXT
        values = _json_for_single(value_field, depth)
        return st.dictionaries(keys, values, max_size=3) | _junk(message=True)
    if field.is_repeated:
        element = _json_for_single(field, depth)
        return st.lists(element, max_size=3) | _junk(message=True)
    return _json_for_single(field, depth)


def _json_for_single(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None:
        return _json_for_message(field.message_type, depth)
    return _json_for_scalar(field)


def _reference(data: bytes) -> Any:
    try:
        return json_format.Parse(data, Rich(), ignore_unknown_fields=True, max_recursion_depth=64)
    except Exception as exc:
        return exc


def _ours(data: bytes) -> Any:
    try:
        return MessageCodec.for_descriptor(Rich.DESCRIPTOR).decode(data)
    except DecodeError as exc:
        return exc


def _enum_number_beyond_32_bits(obj: Any, key: str = "") -> bool:
    """An input json_format wraps modulo 2**32 and the codec refuses: a pinned divergence
    (test_codec.py::test_divergence_enum_numbers_beyond_32_bits_are_refused_not_wrapped)."""
    if isinstance(obj, dict):
        return any(_enum_number_beyond_32_bits(v, k) for k, v in obj.items())
    if isinstance(obj, list):
        return any(_enum_number_beyond_32_bits(v, key) for v in obj)
    numeric = isinstance(obj, int) and not isinstance(obj, bool)
    return "enum" in key.lower() and numeric and not -(2**31) <= obj < 2**31


@SETTINGS
@given(_json_for_message(Rich.DESCRIPTOR, 2))
def test_random_json_decodes_like_json_format(obj: Any) -> None:
    assume(not _enum_number_beyond_32_bits(obj))
    data = json.dumps(obj).encode()
    expected, got = _reference(data), _ours(data)
    if isinstance(expected, Exception):
        assert isinstance(got, DecodeError), f"json_format: {expected}; codec: {got}"
    else:
        assert not isinstance(got, Exception), f"codec failed: {got}"
        assert _bytes_of(got) == _bytes_of(expected)


@SMALL
@given(_json_for_message(Rich.DESCRIPTOR, 1))
def test_decode_value_matches_decode(obj: Any) -> None:
    codec = MessageCodec.for_descriptor(Rich.DESCRIPTOR)
    try:
        from_bytes = codec.decode(json.dumps(obj).encode())
    except DecodeError:
        with pytest.raises(DecodeError):
            codec.decode_value(json.loads(json.dumps(obj)))
        return
    assert _bytes_of(codec.decode_value(json.loads(json.dumps(obj)))) == _bytes_of(from_bytes)


@SMALL
@given(_json_for_message(Rich.DESCRIPTOR, 1))
def test_strict_codec_decodes_like_strict_json_format(obj: Any) -> None:
    data = json.dumps(obj).encode()
    strict = MessageCodec.for_descriptor(Rich.DESCRIPTOR, CodecOptions(ignore_unknown_fields=False))
    try:
        expected: Any = json_format.Parse(data, Rich(), max_recursion_depth=64)
    except Exception as exc:
        expected = exc
    try:
        got: Any = strict.decode(data)
    except DecodeError as exc:
        got = exc
    assert isinstance(got, Exception) == isinstance(expected, Exception), (expected, got)
    if not isinstance(got, Exception):
        assert _bytes_of(got) == _bytes_of(expected)


def _alias(value: Any) -> str | None:
    if value.type.name != "Kind" or value.number == 0:
        return None
    return value.name.removeprefix("KIND_").lower()


@SMALL
@given(_message(pb.Tagged.DESCRIPTOR, 0))
def test_enum_aliases_round_trip(message: Any) -> None:
    codec = MessageCodec.for_descriptor(pb.Tagged.DESCRIPTOR, CodecOptions(enum_json_value=_alias))
    encoded = codec.encode_value(message)
    plain = json.loads(json_format.MessageToJson(message))
    aliases = {"KIND_PAGE_VIEW": "page_view", "KIND_ADD_TO_CART": "add_to_cart"}

    def spelled(value: Any) -> Any:
        if isinstance(value, list):
            return [spelled(v) for v in value]
        if isinstance(value, dict):
            return {k: spelled(v) for k, v in value.items()}
        return aliases.get(value, value)

    assert encoded == spelled(plain)
    assert _bytes_of(codec.decode(codec.encode(message))) == _bytes_of(message)
    # The proto names json_format prints are accepted by the aliased codec too.
    assert _bytes_of(codec.decode(json_format.MessageToJson(message).encode())) == _bytes_of(
        message)
