"""Example-based tests of the compiled JSON codec against google.protobuf.json_format.

Most cases go through ``assert_agrees``: the codec and json_format.Parse
(ignore_unknown_fields=True) must give the same message or both fail. Deliberate
differences are the ``test_divergence_*`` tests, each with its reason.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format, struct_pb2, timestamp_pb2, wrappers_pb2

sys.path.insert(0, str(Path(__file__).parent))
from codec_support import codec_test_pb2  # noqa: E402

from event_gateway.transcoding.codec import CodecOptions, DecodeError, MessageCodec, parse_json  # noqa: E402

pb = codec_test_pb2()
Rich = pb.Rich
CODEC = MessageCodec.for_descriptor(Rich.DESCRIPTOR)


def reference(data: bytes, cls: type = Rich, max_depth: int = 64) -> Any:
    try:
        return json_format.Parse(data, cls(), ignore_unknown_fields=True,
                                 max_recursion_depth=max_depth)
    except Exception as exc:  # json_format also leaks UnicodeDecodeError and friends
        return exc


def ours(data: bytes, codec: MessageCodec = CODEC) -> Any:
    try:
        return codec.decode(data)
    except DecodeError as exc:
        return exc


def assert_agrees(value: Any) -> Any:
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    expected, got = reference(data), ours(data)
    if isinstance(expected, Exception):
        assert isinstance(got, DecodeError), f"json_format failed ({expected}) but codec gave {got}"
    else:
        assert not isinstance(got, Exception), f"codec failed: {got}"
        assert got == expected
    return got


def decode_error(value: Any, codec: MessageCodec = CODEC) -> DecodeError:
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    with pytest.raises(DecodeError) as info:
        codec.decode(data)
    return info.value


# ------------------------------------------------------------------ scalars

@pytest.mark.parametrize(
    "value",
    [
        {"fInt32": 1}, {"fInt32": -2147483648}, {"fInt32": 2147483647}, {"fInt32": 2147483648},
        {"fInt32": "12"}, {"fInt32": " 12"}, {"fInt32": "1e3"}, {"fInt32": 1.0}, {"fInt32": 1.5},
        {"fInt32": "1.0"}, {"fInt32": "1.5"}, {"fInt32": True}, {"fInt32": "x"}, {"fInt32": []},
        {"fInt32": {}}, {"fInt32": "+7"}, {"fInt32": "1_000"}, {"fInt32": "0x10"},
        {"fUint32": -1}, {"fUint32": 4294967295}, {"fUint32": 4294967296},
        {"fInt64": "9223372036854775807"}, {"fInt64": 9223372036854775807},
        {"fInt64": "9223372036854775808"}, {"fInt64": "-9223372036854775808"},
        {"fUint64": "18446744073709551615"}, {"fUint64": 18446744073709551615},
        {"fUint64": "18446744073709551616"}, {"fUint64": 1e19}, {"fInt64": 1e19},
        {"fSint32": -5}, {"fSint64": "-5"}, {"fFixed32": 5}, {"fFixed64": "5"},
        {"fSfixed32": -5}, {"fSfixed64": -5},
        {"fFloat": 1.5}, {"fFloat": "1.5"}, {"fFloat": "NaN"}, {"fFloat": "Infinity"},
        {"fFloat": "-Infinity"}, {"fFloat": "nan"}, {"fFloat": "inf"}, {"fFloat": 3.5e38},
        {"fFloat": -3.5e38}, {"fFloat": "3.5e38"}, {"fFloat": 1e300}, {"fFloat": 7},
        {"fDouble": 1e300}, {"fDouble": "1e300"}, {"fDouble": "x"}, {"fDouble": None},
        {"fDouble": "Infinity"}, {"fDouble": " 1.5 "}, {"fDouble": 12345678901234567890},
        {"fBool": True}, {"fBool": False}, {"fBool": "true"}, {"fBool": 1}, {"fBool": None},
        {"fString": "héllo ✓"}, {"fString": 1}, {"fString": None}, {"fString": ["a"]},
        {"fBytes": "aGVsbG8="}, {"fBytes": "aGVsbG8"}, {"fBytes": "_-8="}, {"fBytes": "/+8="},
        {"fBytes": "a"}, {"fBytes": "!!!!"}, {"fBytes": 5}, {"fBytes": ""},
        {"fEnum": "COLOR_RED"}, {"fEnum": 1}, {"fEnum": 7}, {"fEnum": "7"}, {"fEnum": -3},
        {"fEnum": "COLOR_NOPE"}, {"fEnum": 1.0}, {"fEnum": 2147483648}, {"fEnum": None},
        {"fEnum": "COLOR_NEGATIVE"}, {"fEnum": []}, {"fEnum": "2147483648"},
        {"fNull": "9223372036854775808"}, {"rEnum": ["-2147483649"]},
        {"fNull": None}, {"fNull": "NULL_VALUE"}, {"fNull": 0}, {"fNull": "x"},
        {"renamed": "x"}, {"custom_named": "y"}, {"customNamed": "ignored, unknown"},
        {"f_int32": 3}, {"fInt32": 1, "f_int32": 2}, {"nope": {"deep": [1, 2]}},
    ],
)
def test_scalars_agree_with_json_format(value: Any) -> None:
    assert_agrees(value)


def test_int64_accepts_numbers_and_strings() -> None:
    assert CODEC.decode(b'{"fInt64": "-42", "fUint64": 42}').f_int64 == -42
    assert CODEC.decode(b'{"fUint64": "18446744073709551615"}').f_uint64 == 2**64 - 1


def test_int32_range_error_names_the_field() -> None:
    error = decode_error({"fInt32": 2**31})
    assert (error.path, error.reason) == ("fInt32", "range")


def test_non_integral_number_for_integer_is_invalid() -> None:
    error = decode_error({"rInt32": [1, 2.5]})
    assert (error.path, error.reason) == ("rInt32[1]", "invalid")
    assert CODEC.decode(b'{"fInt32": 3.0}').f_int32 == 3


def test_bool_is_strict() -> None:
    assert decode_error({"fBool": "true"}).reason == "type"
    assert decode_error({"fBool": 0}).reason == "type"


def test_float_special_strings() -> None:
    message = CODEC.decode(b'{"fDouble": "-Infinity", "fFloat": "NaN"}')
    assert message.f_double == float("-inf") and message.f_float != message.f_float


def test_bytes_accept_standard_and_url_safe_base64() -> None:
    assert CODEC.decode(b'{"fBytes": "+/8="}').f_bytes == b"\xfb\xff"
    assert CODEC.decode(b'{"fBytes": "-_8"}').f_bytes == b"\xfb\xff"


def test_null_means_unset() -> None:
    message = CODEC.decode(b'{"fInt32": null, "optInt32": null, "fInner": null, "rInt32": null}')
    assert message == Rich()
    assert not message.HasField("opt_int32")


def test_explicit_presence_field_set_to_zero_is_present() -> None:
    message = CODEC.decode(b'{"optInt32": 0, "optString": ""}')
    assert message.HasField("opt_int32") and message.HasField("opt_string")
    assert CODEC.encode_value(message) == {"optInt32": 0, "optString": ""}


# ------------------------------------------------------------------ enums


def test_enum_by_name_and_number() -> None:
    assert CODEC.decode(b'{"fEnum": "COLOR_GREEN"}').f_enum == pb.COLOR_GREEN
    assert CODEC.decode(b'{"fEnum": 2}').f_enum == pb.COLOR_GREEN
    assert CODEC.decode(b'{"fEnum": 9}').f_enum == 9  # open enum keeps unknown numbers


def test_unknown_enum_name_is_ignored_like_unknown_fields() -> None:
    message = CODEC.decode(b'{"fEnum": "NOPE", "rEnum": ["COLOR_RED", "NOPE"], '
                           b'"mBoolEnum": {"true": "NOPE", "false": "COLOR_RED"}}')
    assert message.f_enum == 0
    assert list(message.r_enum) == [pb.COLOR_RED]
    assert dict(message.m_bool_enum) == {False: pb.COLOR_RED}


def test_strict_options_refuse_unknown_fields_and_enum_names() -> None:
    strict = MessageCodec.for_descriptor(Rich.DESCRIPTOR, CodecOptions(ignore_unknown_fields=False))
    assert (decode_error({"nope": 1}, strict).path, decode_error({"nope": 1}, strict).reason) == (
        "nope", "invalid")
    error = decode_error({"fEnum": "NOPE"}, strict)
    assert (error.path, error.reason) == ("fEnum", "invalid")
    for data in [b'{"nope": 1}', b'{"fEnum": "NOPE"}', b'{"rEnum": ["NOPE"]}']:
        with pytest.raises(json_format.ParseError):
            json_format.Parse(data, Rich())


def _alias(value: Any) -> str | None:
    if value.type.name != "Kind" or value.number == 0:
        return None
    return value.name.removeprefix("KIND_").lower()


ALIASED = CodecOptions(enum_json_value=_alias)


def test_enum_alias_on_input_and_output() -> None:
    codec = MessageCodec.for_descriptor(pb.Tagged.DESCRIPTOR, ALIASED)
    message = codec.decode(b'{"kind": "page_view", "kinds": ["KIND_ADD_TO_CART", 1, "add_to_cart"],'
                           b' "byName": {"a": "page_view"}}')
    assert message.kind == pb.KIND_PAGE_VIEW
    assert list(message.kinds) == [pb.KIND_ADD_TO_CART, pb.KIND_PAGE_VIEW, pb.KIND_ADD_TO_CART]
    assert codec.encode_value(message) == {
        "kind": "page_view", "kinds": ["add_to_cart", "page_view", "add_to_cart"],
        "byName": {"a": "page_view"},
    }
    # A value without an alias keeps its proto name.
    unspecified = MessageCodec.for_descriptor(pb.Tagged.DESCRIPTOR, CodecOptions(
        enum_json_value=_alias, emit_unpopulated=True)).encode_value(pb.Tagged())
    assert unspecified["kind"] == "KIND_UNSPECIFIED"


def _by_name_left_out(field: Any) -> bool:
    return field.name == "by_name"


def test_an_omitted_field_is_never_printed_and_read_as_unknown() -> None:
    codec = MessageCodec.for_descriptor(pb.Tagged.DESCRIPTOR, CodecOptions(omitted_field=_by_name_left_out))
    message = pb.Tagged(kind=pb.KIND_PAGE_VIEW, by_name={"a": pb.KIND_ADD_TO_CART})
    assert codec.encode_value(message) == {"kind": "KIND_PAGE_VIEW"}
    for spelling in (b"by_name", b"byName"):
        assert dict(codec.decode(b'{"%s": {"a": 1}, "kind": 1}' % spelling).by_name) == {}
    strict = MessageCodec.for_descriptor(
        pb.Tagged.DESCRIPTOR, CodecOptions(omitted_field=_by_name_left_out, ignore_unknown_fields=False))
    with pytest.raises(DecodeError):
        strict.decode(b'{"byName": {"a": 1}}')
    printing_defaults = MessageCodec.for_descriptor(
        pb.Tagged.DESCRIPTOR, CodecOptions(omitted_field=_by_name_left_out, emit_unpopulated=True))
    assert set(printing_defaults.encode_value(pb.Tagged())) == {"kind", "kinds"}


def test_a_null_when_unset_field_prints_null_until_it_is_set() -> None:
    codec = MessageCodec.for_descriptor(
        Rich.DESCRIPTOR, CodecOptions(null_when_unset=lambda field: field.name in ("opt_int32", "f_int32")))
    assert codec.encode_value(Rich()) == {"optInt32": None}  # f_int32 has no presence: left as it was
    assert codec.encode_value(Rich(opt_int32=0)) == {"optInt32": 0}


def test_enum_alias_unknown_spelling_is_ignored() -> None:
    codec = MessageCodec.for_descriptor(pb.Tagged.DESCRIPTOR, ALIASED)
    assert codec.decode(b'{"kind": "Page_View"}').kind == 0


STRICT = CodecOptions(enum_json_value=_alias, strict_enums=True)


def test_strict_enums_take_only_the_documented_spelling() -> None:
    codec = MessageCodec.for_descriptor(pb.Tagged.DESCRIPTOR, STRICT)
    message = codec.decode(b'{"kind": "page_view", "kinds": ["add_to_cart"], "byName": {"a": "page_view"}}')
    assert (message.kind, list(message.kinds)) == (pb.KIND_PAGE_VIEW, [pb.KIND_ADD_TO_CART])
    # A value without an alias is documented by its proto name.
    assert codec.decode(b'{"kind": "KIND_UNSPECIFIED"}').kind == 0


@pytest.mark.parametrize(
    ("json_text", "path"),
    [
        (b'{"kind": "KIND_PAGE_VIEW"}', "kind"),  # the proto name, where an alias is declared
        (b'{"kind": 1}', "kind"),
        (b'{"kind": 1.0}', "kind"),
        (b'{"kind": "1"}', "kind"),
        (b'{"kind": "Page_View"}', "kind"),  # unknown: refused, not dropped
        (b'{"kinds": ["page_view", 2]}', "kinds[1]"),
        (b'{"byName": {"a": "hover"}}', "byName.a"),
    ],
)
def test_strict_enums_refuse_every_other_spelling(json_text: bytes, path: str) -> None:
    error = decode_error(json_text, MessageCodec.for_descriptor(pb.Tagged.DESCRIPTOR, STRICT))
    assert (error.path, error.reason) == (path, "invalid")


# ------------------------------------------------------------------ repeated, maps, oneofs


@pytest.mark.parametrize(
    "value",
    [
        {"rInt32": [1, 2, "3"]}, {"rInt32": 1}, {"rInt32": [1, None]}, {"rInt32": [[1]]},
        {"rInt64": ["1", 2]}, {"rUint64": [-1]}, {"rFloat": [1.5, "NaN"]}, {"rDouble": []},
        {"rBool": [True, 1]}, {"rString": ["a", 1]}, {"rBytes": ["AA==", "AQ"]},
        {"rEnum": ["COLOR_RED", 2, "NOPE"]}, {"rInner": [{"a": 1}, {}]}, {"rInner": [None]},
        {"rInner": [{"a": "x"}]}, {"rInner": {}}, {"rString": "abc"},
        {"rString": ["a"], "r_string": ["b"]}, {"rInner": [{"a": 1}], "r_inner": [{"b": "x"}]},
        {"mStringInt32": {"a": 1, "b": "2"}}, {"mStringInt32": {"a": None}},
        {"mStringInt32": []}, {"mStringInt32": None},
        {"mInt32String": {"1": "a", "-2": "b"}}, {"mInt32String": {"x": "a"}},
        {"mInt32String": {"1.0": "a"}}, {"mInt32String": {" 1": "a"}},
        {"mInt32String": {"2147483648": "a"}}, {"mInt64Inner": {"5": {"a": 1}}},
        {"mInt64Inner": {"5": None}}, {"mBoolEnum": {"true": 1, "false": "COLOR_GREEN"}},
        {"mBoolEnum": {"True": 1}}, {"mBoolEnum": {"1": 1}}, {"mUint32Double": {"1": "NaN"}},
        {"mUint32Double": {"-1": 1}}, {"mStringBytes": {"k": "AQID"}},
        {"mStringValue": {"a": None, "b": [1, {"c": "d"}]}}, {"mSint64Uint64": {"-3": "3"}},
        {"mWint32": {"a": 1, "b": None}}, {"mWint32": {"a": "2"}},
        {"cString": "x"}, {"cInt64": "5"}, {"cString": "x", "cInt64": 5},
        {"cString": "x", "cInt64": None}, {"cString": None, "cInt64": 5},
        {"cInner": {}}, {"cValue": None}, {"cValue": None, "cString": "a"},
        {"cNull": None}, {"cNull": None, "cString": "a"}, {"cEnum": "NOPE", "cString": "a"},
        {"cString": "a", "c_string": "b"}, {"optInt32": 1, "opt_int32": 2},
        {"fInner": {"a": 1}, "f_inner": {"b": "x"}},
    ],
)
def test_collections_and_oneofs_agree_with_json_format(value: Any) -> None:
    assert_agrees(value)


def test_repeated_null_element_path() -> None:
    error = decode_error({"rInner": [{}, None]})
    assert (error.path, error.reason) == ("rInner[1]", "type")


def test_map_keys_are_converted() -> None:
    message = CODEC.decode(b'{"mInt32String": {"-2": "b"}, "mBoolEnum": {"true": "COLOR_RED"}}')
    assert dict(message.m_int32_string) == {-2: "b"}
    assert dict(message.m_bool_enum) == {True: pb.COLOR_RED}
    assert CODEC.encode_value(message) == {"mInt32String": {"-2": "b"},
                                           "mBoolEnum": {"true": "COLOR_RED"}}


def test_map_error_path_uses_the_key() -> None:
    error = decode_error({"mInt64Inner": {"7": {"a": "x"}}})
    assert (error.path, error.reason) == ("mInt64Inner.7.a", "invalid")


def test_two_oneof_members_is_a_duplicate() -> None:
    error = decode_error({"cString": "x", "cInt64": 5})
    assert (error.path, error.reason) == ("cInt64", "duplicate")


def test_error_path_uses_names_the_client_wrote() -> None:
    assert decode_error({"r_inner": [{}, {}, {"children": [{"b": 1}]}]}).path == (
        "r_inner[2].children[0].b")
    assert decode_error({"rInner": [{}, {}, {"a": True}]}).path == "rInner[2].a"


# ------------------------------------------------------------------ well-known types


@pytest.mark.parametrize(
    "value",
    [
        {"wTimestamp": "2024-02-29T12:30:45Z"}, {"wTimestamp": "2024-02-29T12:30:45.123456789Z"},
        {"wTimestamp": "2024-02-29T12:30:45+02:00"}, {"wTimestamp": "2024-02-29T12:30:45-07:30"},
        {"wTimestamp": "2024-02-29 12:30:45Z"}, {"wTimestamp": "2024-02-30T12:30:45Z"},
        {"wTimestamp": "0001-01-01T00:00:00Z"}, {"wTimestamp": "9999-12-31T23:59:59Z"},
        {"wTimestamp": "2024-02-29T12:30:45"}, {"wTimestamp": 5}, {"wTimestamp": None},
        {"wTimestamp": ""},
        {"wDuration": "1.5s"}, {"wDuration": "-0.000000001s"}, {"wDuration": "1s "},
        {"wDuration": "315576000001s"}, {"wDuration": "1"}, {"wDuration": 1},
        {"wFieldMask": "a,bC.dE"}, {"wFieldMask": ""}, {"wFieldMask": "a_b"}, {"wFieldMask": 1},
        {"wStruct": {"a": 1, "b": [True, None, "x", {"c": []}]}}, {"wStruct": {}},
        {"wStruct": []}, {"wStruct": "x"}, {"wStruct": None},
        {"wValue": None}, {"wValue": 1}, {"wValue": "x"}, {"wValue": True}, {"wValue": []},
        {"wValue": {}}, {"wValue": [[{}]]}, {"wValue": 12345678901234567890123},
        {"wList": [1, "a", None]}, {"wList": []}, {"wList": {}}, {"wList": None},
        {"wEmpty": {}}, {"wEmpty": {"x": 1}}, {"wEmpty": None}, {"wEmpty": 1},
        {"wDouble": 1.5}, {"wDouble": "NaN"}, {"wDouble": None}, {"wFloat": "1.5"},
        {"wInt64": "5"}, {"wInt64": 5}, {"wUint64": "-1"}, {"wInt32": 2**31}, {"wUint32": 5},
        {"wBool": False}, {"wBool": "false"}, {"wString": ""}, {"wString": 5},
        {"wBytes": "AQ=="}, {"wBytes": {"value": "AQ=="}}, {"wInt32": {"value": 1}},
        {"rTimestamp": ["2024-01-01T00:00:00Z", "1970-01-01T00:00:00.5Z"]},
        {"rTimestamp": [None]}, {"rValue": [None, 1, {}]}, {"rValue": None},
        {"rWstring": ["a", ""]}, {"rWstring": [None]},
        {"wAny": {}}, {"wAny": {"@type": "type.googleapis.com/codectest.v1.Inner", "a": 5}},
        {"wAny": {"@type": "type.googleapis.com/codectest.v1.Inner", "a": "x"}},
        {"wAny": {"@type": "type.googleapis.com/codectest.v1.Inner", "zz": 1}},
        {"wAny": {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "2s"}},
        {"wAny": {"@type": "type.googleapis.com/google.protobuf.Duration"}},
        {"wAny": {"@type": "type.googleapis.com/google.protobuf.Int32Value", "value": 3}},
        {"wAny": {"@type": "type.googleapis.com/google.protobuf.Struct", "value": {"a": 1}}},
        {"wAny": {"@type": "type.googleapis.com/google.protobuf.Value", "value": None}},
        {"wAny": {"@type": "type.googleapis.com/google.protobuf.Any",
                  "value": {"@type": "type.googleapis.com/google.protobuf.Empty", "value": {}}}},
        {"wAny": {"@type": "type.googleapis.com/nope.Missing"}}, {"wAny": {"a": 1}},
        {"wAny": {"@type": 5}}, {"wAny": None},
        {"rAny": [{}, {"@type": "type.googleapis.com/google.protobuf.Empty", "value": {}}]},
    ],
)
def test_well_known_types_agree_with_json_format(value: Any) -> None:
    assert_agrees(value)


def test_timestamp_offset_is_converted_to_utc() -> None:
    message = CODEC.decode(b'{"wTimestamp": "2024-02-29T12:30:45+02:00"}')
    assert message.w_timestamp.ToJsonString() == "2024-02-29T10:30:45Z"


def test_wrapper_null_is_unset_and_zero_is_set() -> None:
    assert not CODEC.decode(b'{"wInt32": null}').HasField("w_int32")
    message = CODEC.decode(b'{"wInt32": 0}')
    assert message.HasField("w_int32")
    assert CODEC.encode_value(message) == {"wInt32": 0}


def test_value_null_is_null_value() -> None:
    message = CODEC.decode(b'{"wValue": null}')
    assert message.w_value.WhichOneof("kind") == "null_value"


def test_codec_for_a_well_known_type_root() -> None:
    codec = MessageCodec.for_descriptor(timestamp_pb2.Timestamp.DESCRIPTOR)
    assert codec.decode(b'"1970-01-01T00:00:01Z"').seconds == 1
    assert codec.encode(timestamp_pb2.Timestamp(seconds=1)) == b'"1970-01-01T00:00:01Z"'
    value = MessageCodec.for_descriptor(struct_pb2.Value.DESCRIPTOR)
    assert value.decode(b"[1, null]") == json_format.Parse("[1, null]", struct_pb2.Value())


# ------------------------------------------------------------------ JSON text, depth, duplicates


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b'{"fInt32": 1} x', b'{"fInt32": 1}{}', b"\xff\xfe", b'{"fString": "\xc3"}',
     b'{"fDouble": NaN}', b'{"fDouble": Infinity}', b"{'a': 1}", b'{"a": 1,}'],
)
def test_invalid_json_is_a_syntax_error_at_the_root(data: bytes) -> None:
    error = decode_error(data)
    assert (error.path, error.reason) == ("", "syntax")
    assert isinstance(reference(data), Exception)


def test_root_must_be_an_object() -> None:
    error = decode_error(b"[1]")
    assert (error.path, error.reason) == ("", "type")


@pytest.mark.parametrize(
    "data",
    [b'{"fInt32": 1, "fInt32": 2}', b'{"wStruct": {"a": 1, "a": 1}}',
     b'{"nope": {"x": 1, "x": 2}}', b'{"fString": "a:b", "fString": "c"}',
     b'{"fString" : "a", "fString": "b"}', b'{"fString":"\\":", "fString": "b"}',
     b'{"mStringInt32": {"a": 1, "a": 2}}'],
)
def test_duplicate_keys_are_refused_like_json_format(data: bytes) -> None:
    error = decode_error(data)
    assert error.reason == "duplicate"
    assert isinstance(reference(data), json_format.ParseError)


def test_colons_and_escapes_in_strings_are_not_duplicates() -> None:
    data = b'{"fString": "a:b\\":c", "wStruct": {"u": "https://x/y", "t": "12:30"}, "rString" :[]}'
    assert ours(data) == reference(data)


def _nested(depth: int) -> dict[str, Any]:
    inner: dict[str, Any] = {}
    for _ in range(depth - 2):
        inner = {"children": [inner]}
    return {"fInner": inner}


@pytest.mark.parametrize("depth", [63, 64, 65, 66])
def test_depth_limit_counts_like_json_format(depth: int) -> None:
    data = json.dumps(_nested(depth)).encode()
    got, expected = ours(data), reference(data, max_depth=64)
    assert isinstance(got, DecodeError) == isinstance(expected, Exception)
    if isinstance(got, DecodeError):
        assert got.reason == "depth"


def test_deep_nesting_never_recurses_out() -> None:
    deep = b'{"wValue": ' + b"[" * 900 + b"]" * 900 + b"}"
    assert decode_error(deep).reason == "depth"
    deeper = b'{"wValue": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert decode_error(deeper).reason == "syntax"  # orjson's own limit (1024)
    small = MessageCodec.for_descriptor(Rich.DESCRIPTOR, CodecOptions(max_depth=3))
    assert decode_error({"wStruct": {"a": {"b": 1}}}, small).reason == "depth"


# ------------------------------------------------------------------ decode_value, decode_into_field


def test_decode_value_merges_into_a_given_message() -> None:
    message = Rich(f_int32=7)
    assert CODEC.decode_value({"fString": "x"}, message) is message
    assert (message.f_int32, message.f_string) == (7, "x")


def test_decode_into_field_fills_a_repeated_field_from_a_list() -> None:
    message = Rich(r_inner=[pb.Inner(a=9)])
    CODEC.decode_into_field(message, "r_inner", [{"a": 1}, {"b": "x"}])
    assert list(message.r_inner) == [pb.Inner(a=1), pb.Inner(b="x")]
    CODEC.decode_into_field(message, "f_inner", {"a": 2})
    assert message.f_inner.a == 2
    with pytest.raises(DecodeError) as info:
        CODEC.decode_into_field(message, "r_inner", [{}, {"a": "x"}])
    assert (info.value.path, info.value.reason) == ("[1].a", "invalid")
    with pytest.raises(KeyError):
        CODEC.decode_into_field(message, "nope", 1)


def test_decode_error_is_a_value_error_with_a_clear_message() -> None:
    error = decode_error({"rInner": [{}, {"a": "x"}]})
    assert isinstance(error, ValueError)
    assert str(error).startswith("rInner[1].a: ")


# ------------------------------------------------------------------ encoding


def _full_message() -> Any:
    message = json_format.Parse(json.dumps({
        "fInt32": -1, "fInt64": "-2", "fUint32": 3, "fUint64": "18446744073709551615",
        "fSint32": -4, "fSint64": "-5", "fFixed32": 6, "fFixed64": "7", "fSfixed32": -8,
        "fSfixed64": "-9", "fFloat": 0.1, "fDouble": "-Infinity", "fBool": True,
        "fString": "s", "fBytes": "AAEC", "fEnum": "COLOR_NEGATIVE", "fInner": {"a": 1},
        "optInt32": 0, "rFloat": [0.3, "NaN"], "rEnum": [1, 5], "rBytes": ["AA=="],
        "mBoolEnum": {"true": 2}, "mSint64Uint64": {"-1": "2"}, "mStringValue": {"a": [1]},
        "cValue": {"x": None}, "wTimestamp": "2024-01-01T00:00:00.5Z", "wDuration": "-1.5s",
        "wStruct": {"a": {}}, "wValue": "v", "wList": [], "wFieldMask": "a.bC,d",
        "wAny": {"@type": "type.googleapis.com/codectest.v1.Inner", "a": 1, "b": "x"},
        "wEmpty": {}, "wDouble": 0, "wFloat": "Infinity", "wInt64": "0", "wUint64": "1",
        "wInt32": 0, "wUint32": 0, "wBool": False, "wString": "", "wBytes": "",
        "rTimestamp": ["1970-01-01T00:00:00Z"], "rValue": [None, 1.5], "rWstring": ["a"],
        "rAny": [{"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1s"}],
        "mWint32": {"k": 3}, "renamed": "r",
    }), Rich())
    return message


@pytest.mark.parametrize("emit_unpopulated", [False, True])
@pytest.mark.parametrize("use_proto_names", [False, True])
@pytest.mark.parametrize("message", [_full_message(), Rich(), Rich(c_null=0), Rich(f_enum=77)])
def test_encode_matches_message_to_json(message: Any, emit_unpopulated: bool,
                                        use_proto_names: bool) -> None:
    options = CodecOptions(emit_unpopulated=emit_unpopulated, use_proto_names=use_proto_names)
    codec = MessageCodec.for_descriptor(Rich.DESCRIPTOR, options)
    expected = json.loads(json_format.MessageToJson(
        message, preserving_proto_field_name=use_proto_names,
        always_print_fields_with_no_presence=emit_unpopulated))
    assert codec.encode_value(message) == expected
    assert orjson.loads(codec.encode(message)) == expected
    assert codec.decode(codec.encode(message)) == message


def test_encode_value_nan_number_fails_like_json_format() -> None:
    message = Rich(w_value=struct_pb2.Value(number_value=float("nan")))
    with pytest.raises(json_format.SerializeToJsonError):
        json_format.MessageToJson(message)
    with pytest.raises(ValueError):
        CODEC.encode(message)


def test_a_negative_zero_value_keeps_its_sign() -> None:
    # Found by the property test: integral numbers are written as integers, and an
    # integer 0 read back as +0.0.
    message = Rich(c_value=struct_pb2.Value(number_value=-0.0))
    decoded = CODEC.decode(CODEC.encode(message))
    assert math.copysign(1.0, decoded.c_value.number_value) == -1.0
    assert CODEC.encode_value(Rich(c_value=struct_pb2.Value(number_value=7.0))) == {"cValue": 7}


def test_codecs_are_cached_per_descriptor_and_options() -> None:
    assert MessageCodec.for_descriptor(Rich.DESCRIPTOR) is CODEC
    assert MessageCodec.for_descriptor(Rich.DESCRIPTOR, CodecOptions()) is CODEC
    assert MessageCodec.for_descriptor(Rich.DESCRIPTOR, ALIASED) is not CODEC


def test_wrapper_message_codec_encodes_scalar() -> None:
    codec = MessageCodec.for_descriptor(wrappers_pb2.Int64Value.DESCRIPTOR)
    assert codec.encode_value(wrappers_pb2.Int64Value(value=5)) == "5"


# ------------------------------------------------------------------ deliberate divergences


def test_divergence_non_object_for_a_message_is_refused() -> None:
    # json_format iterates whatever it is given as if it were an object's keys: a string
    # becomes a list of unknown one-letter fields (ignored) and [] an empty message, so
    # {"fInner": "xyz"} and a top-level [] "parse". That is a bug; a message is an object.
    for value in [{"fInner": "xyz"}, {"fInner": []}, {"rInner": ["x"]}]:
        assert not isinstance(reference(json.dumps(value).encode()), Exception)
        assert decode_error(value).reason == "type"
    assert not isinstance(reference(b"[]"), Exception)
    assert decode_error(b"[]").reason == "type"


def test_divergence_bool_for_a_number_or_enum_is_refused() -> None:
    # json_format passes true through float() and int(): 1.0 for a double, 1 for an enum.
    # ProtoJSON has no such coercion; a client sending true for a number made a mistake.
    for value in [{"fDouble": True}, {"fEnum": True}, {"wFloat": False}]:
        assert not isinstance(reference(json.dumps(value).encode()), Exception)
        assert decode_error(value).reason == "type"


def test_divergence_fractional_number_for_an_enum_is_refused() -> None:
    # json_format truncates 1.5 to 1 via int(); integral floats (1.0) are accepted by both.
    assert reference(b'{"fEnum": 1.5}').f_enum == 1
    assert decode_error({"fEnum": 1.5}).reason == "type"
    assert CODEC.decode(b'{"fEnum": 1.0}') == reference(b'{"fEnum": 1.0}')


def test_divergence_non_json_number_tokens_are_syntax_errors() -> None:
    # Python's json accepts NaN/Infinity tokens and numbers beyond double range (as inf),
    # so json_format takes them in a Value or an unknown field. They are not JSON (RFC 8259)
    # and orjson refuses them: a syntax error at the root.
    for data in [b'{"wValue": NaN}', b'{"wValue": 1e400}', b'{"nope": -Infinity}']:
        assert not isinstance(reference(data), Exception)
        assert (decode_error(data).reason, decode_error(data).path) == ("syntax", "")


def test_divergence_lone_surrogate_escape_reads_as_the_replacement_character() -> None:
    # json_format refuses a lone surrogate where it stores the string and keeps it in an
    # ignored field; here it is U+FFFD everywhere, as Go's encoding/json reads it.
    assert not isinstance(reference(b'{"nope": "\\ud800"}'), Exception)
    assert isinstance(reference(b'{"fString": "\\ud800"}'), Exception)
    assert CODEC.decode(b'{"nope": "\\ud800", "fString": "\\ud800"}').f_string == "\ufffd"


def test_divergence_int64_just_below_minimum_rounds_into_range() -> None:
    # orjson reads integers beyond 64 bits as doubles: -9223372036854775809 becomes
    # -2**63 exactly, which is in range, while json_format (exact ints) refuses it.
    data = b'{"fInt64": -9223372036854775809}'
    assert isinstance(reference(data), Exception)
    assert CODEC.decode(data).f_int64 == -(2**63)


def test_divergence_default_depth_limit_is_lower() -> None:
    # json_format allows 100 levels; this codec defaults to 64 (CodecOptions.max_depth),
    # counting levels exactly as json_format does (see test_depth_limit_counts_like_json_format).
    data = json.dumps(_nested(80)).encode()
    assert not isinstance(reference(data, max_depth=100), Exception)
    assert decode_error(data).reason == "depth"


def test_divergence_largest_float32_as_printed_reads_back() -> None:
    # json_format prints float32 max as 3.4028235e+38 (shortest round-trip form) and then
    # refuses to read it, comparing the double with float32 max. We refuse only numbers
    # that would round to infinity as float32.
    data = b'{"fFloat": 3.4028235e+38}'
    assert isinstance(reference(data), json_format.ParseError)
    assert CODEC.decode(data).f_float == float.fromhex("0x1.fffffep+127")
    assert decode_error({"fFloat": 3.4028236e38}).reason == "range"


def test_divergence_int64_min_for_an_enum_is_refused() -> None:
    # upb's enum setter lets -2**63 through its range check and stores 0, so json_format
    # "accepts" it as the zero value. Every other out-of-int32 number fails in both.
    for value in [{"fEnum": -(2**63)}, {"rEnum": ["-9223372036854775808"]}]:
        assert not isinstance(reference(json.dumps(value).encode()), Exception)
        assert decode_error(value).reason == "range"
    assert decode_error({"fEnum": 2**31}).reason == "range"


def test_divergence_enum_numbers_beyond_32_bits_are_refused_not_wrapped() -> None:
    # upb wraps enum numbers modulo 2**32 (2**32 + 1 becomes 1, 2**40 becomes 0), so
    # json_format silently stores a different value than the client sent; refused here.
    for value, wrapped in [(2**32, 0), (2**32 + 1, 1), (-(2**32), 0), (2**40, 0)]:
        accepted = reference(json.dumps({"fEnum": value}).encode())
        assert not isinstance(accepted, Exception) and accepted.f_enum == wrapped
        assert decode_error({"fEnum": value}).reason == "range"


def test_deep_ignored_field_never_recurses_out() -> None:
    # The spaced colon sends the duplicate check to Python's json, which has a stack.
    data = b'{"nope": "a:b", "y" : 1, "x": ' + b"[" * 1010 + b"]" * 1010 + b"}"
    assert isinstance(reference(data), Exception)
    assert decode_error(data).reason == "depth"


def test_huge_max_depth_still_never_recurses_out() -> None:
    codec = MessageCodec.for_descriptor(Rich.DESCRIPTOR, CodecOptions(max_depth=100_000))
    deep = b'{"wValue": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert decode_error(deep, codec).reason == "depth"


def test_struct_numbers_that_are_integers_are_written_as_integers() -> None:
    # Go's protojson writes 7, not 7.0; beyond 2**53 a double is no longer an exact integer.
    codec = MessageCodec.for_descriptor(struct_pb2.Struct.DESCRIPTOR)
    message = codec.decode(b'{"n": 7, "neg": -3, "half": 1.5, "exact": 9007199254740992,'
                           b' "big": 1e300, "list": [1, 2.25]}')
    assert orjson.dumps(codec.encode_value(message), option=orjson.OPT_SORT_KEYS) == (
        b'{"big":1e+300,"exact":9007199254740992,"half":1.5,"list":[1,2.25],"n":7,"neg":-3}'
    )


def test_clean_input_is_applied_to_the_json_before_it_is_read() -> None:
    # A framework's input middleware (here: strings trimmed, "" read as null, as
    # Laravel's): the message holds what that framework's handlers saw.
    from dataclasses import replace

    from event_gateway.transcoding.codec import CodecOptions, MessageCodec
    from storefront.v1 import analytics_pb2 as pb

    def tidy(value):
        if isinstance(value, str):
            return value.strip() or None
        if isinstance(value, dict):
            return {k: tidy(v) for k, v in value.items()}
        return value

    from event_gateway.contract import enum_json_value

    plain_options = CodecOptions(enum_json_value=enum_json_value, strict_enums=True)
    cleaning = MessageCodec.for_descriptor(pb.TrackRequest.DESCRIPTOR, replace(plain_options, clean_input=tidy))
    plain = MessageCodec.for_descriptor(pb.TrackRequest.DESCRIPTOR, plain_options)
    read = cleaning.decode(b'{"tenant_id": " a ", "type": " call ", "product_id": ""}')
    assert (read.tenant_id, read.type, read.HasField("product_id")) == ("a", pb.INTERACTION_TYPE_CALL, False)
    assert cleaning.decode(b'{"tenant_id": "a", "type": ""}').type == 0
    assert cleaning.decode_value({"type": "  "}).type == 0
    with pytest.raises(ValueError):
        plain.decode(b'{"tenant_id": "a", "type": ""}')
    # What cannot be read is still reported with its value as sent.
    message, failures = cleaning.decode_fields({"tenant_id": " a ", "product_id": " x "})
    assert message.tenant_id == "a"
    assert [(f.path, f.value) for f in failures] == [("product_id", " x ")]


def test_divergence_a_timestamp_may_spell_t_and_z_in_lower_case() -> None:
    # RFC 3339 §5.6: "T" and "Z" may be lower case; protobuf's own parser refuses them.
    from google.protobuf import timestamp_pb2

    from event_gateway.transcoding.codec import CodecOptions, MessageCodec

    codec = MessageCodec.for_descriptor(timestamp_pb2.Timestamp.DESCRIPTOR, CodecOptions())
    assert codec.decode(b'"2019-01-01t12:59:59z"') == codec.decode(b'"2019-01-01T12:59:59Z"')
    assert codec.decode(b'"2019-01-01t12:59:59-05:00"').seconds == 1546365599
    with pytest.raises(ValueError, match="RFC 3339"):
        codec.decode(b'"yesterday"')


@pytest.mark.parametrize(
    "text",
    ["2019-01-01T17:59:59+99:99", "2019-01-01T17:59:59+25:00", "2019-01-01T17:59:59+24:00",
     "2019-01-01T17:59:59+23:60", "2019-01-01T17:59:59.Z", "2019-01-01T17:59:59.1234567890Z",
     "2019-01-01T17:59:59+0500", "2019-01-01 17:59:59Z", "2019-01-01T17:59Z", " 2019-01-01T17:59:59Z",
     "2019-01-01T17:59:59Z\n"],
)
def test_a_timestamp_outside_rfc_3339_is_refused_not_moved(text: str) -> None:
    # protobuf's parser took +99:99 (and read the instant days away) and "59.Z".
    from google.protobuf import timestamp_pb2

    from event_gateway.transcoding.codec import CodecOptions, MessageCodec

    codec = MessageCodec.for_descriptor(timestamp_pb2.Timestamp.DESCRIPTOR, CodecOptions())
    with pytest.raises(ValueError, match="RFC 3339"):
        codec.decode(orjson.dumps(text))


@pytest.mark.parametrize(
    ("text", "seconds", "nanos"),
    [("2019-01-01T17:59:59+23:59", 1546279259, 0), ("2019-01-01T17:59:59-00:00", 1546365599, 0),
     ("2019-01-01T17:59:59.123456789Z", 1546365599, 123456789), ("0001-01-01T00:00:00Z", -62135596800, 0)],
)
def test_rfc_3339_timestamps_at_the_edges_are_read(text: str, seconds: int, nanos: int) -> None:
    from google.protobuf import timestamp_pb2

    from event_gateway.transcoding.codec import CodecOptions, MessageCodec

    codec = MessageCodec.for_descriptor(timestamp_pb2.Timestamp.DESCRIPTOR, CodecOptions())
    decoded = codec.decode(orjson.dumps(text))
    assert (decoded.seconds, decoded.nanos) == (seconds, nanos)


# --- lone surrogate escapes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"s": "cut \\ud83d"}', {"s": "cut \ufffd"}),  # JSON.stringify of a cut emoji
        (b'{"s": "\\ude00 low first"}', {"s": "\ufffd low first"}),
        (b'{"\\ud83d": ["\\ud83d\\ude00", "\\udbff"]}', {"\ufffd": ["\U0001f600", "\ufffd"]}),
    ],
)
def test_a_lone_surrogate_escape_reads_as_the_replacement_character(text: bytes, expected: Any) -> None:
    assert parse_json(text) == expected
    assert CODEC.decode(text.replace(b'"s"', b'"fString"')).f_string == expected.get("s", "")


@pytest.mark.parametrize(
    "text", [b'{"s": "\\ud83d", "n": NaN}', b'{"s": "\\ud83d",}', b'{"s": "\\ud83d"', b'[' * 5000 + b'"\\ud83d"' + b']' * 5000]
)
def test_text_with_a_lone_surrogate_and_another_fault_is_still_refused(text: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        parse_json(text)
    with pytest.raises(DecodeError):
        CODEC.decode(text)


def test_a_leading_byte_order_mark_is_skipped_once() -> None:
    assert parse_json(b"\xef\xbb\xbf" + b'{"s": "\\ud83d"}') == {"s": "\ufffd"}
    assert CODEC.decode(b"\xef\xbb\xbf" + b'{"fString": "x"}').f_string == "x"
    for text in (b"\xef\xbb\xbf\xef\xbb\xbf{}", b'{"fString": "x"}\xef\xbb\xbf'):
        with pytest.raises(orjson.JSONDecodeError):
            parse_json(text)


def test_arrays_as_structs_reads_an_array_as_the_object_keyed_by_index() -> None:
    # PHP reads [] and {} into one kind of array; an API built on it accepts both.
    from google.protobuf import struct_pb2

    from event_gateway.transcoding.codec import CodecOptions, MessageCodec

    php = MessageCodec.for_descriptor(struct_pb2.Struct.DESCRIPTOR, CodecOptions(arrays_as_structs=True))
    proto = MessageCodec.for_descriptor(struct_pb2.Struct.DESCRIPTOR)
    assert php.encode_value(php.decode(b"[]")) == {}
    assert php.encode_value(php.decode(b'["a", {"b": [1]}]')) == {"0": "a", "1": {"b": [1]}}
    # Only where a Struct is expected: a list inside one is still a list.
    assert php.encode_value(php.decode(b'{"tags": []}')) == {"tags": []}
    with pytest.raises(ValueError):
        proto.decode(b"[]")
