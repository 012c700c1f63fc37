"""set_query_parameter against vanguard-go's setParameter and getParameter tests
(tests/data/conformance)."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from event_gateway.transcoding.query import QueryParameterError, set_query_parameter

HERE = Path(__file__).parent
CORPUS = HERE.parent / "data" / "conformance" / "vanguard_query_params.json"
MESSAGE = "transcoding.test.params.v1.ParameterValues"
WRAPPERS = frozenset(f"google.protobuf.{kind}Value" for kind in (
    "Bool", "Int32", "Int64", "UInt32", "UInt64", "Float", "Double", "String", "Bytes"))


@pytest.fixture(scope="module")
def message_class(tmp_path_factory: pytest.TempPathFactory) -> type[Message]:
    """ParameterValues compiled from tests/transcoding/protos/params.proto into a private pool."""
    import grpc_tools
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("params") / "params.pb"
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    status = protoc.main([
        "protoc", f"-I{HERE / 'protos'}", f"-I{well_known}", "--include_imports",
        f"--descriptor_set_out={out}", "params.proto",
    ])
    assert status == 0, "protoc failed on params.proto"
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    pool = descriptor_pool.DescriptorPool()
    for file in files:  # --include_imports lists dependencies first
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(MESSAGE))


def _set_cases() -> list[Any]:
    cases = json.loads(CORPUS.read_text())["set_parameter_cases"]
    return [
        pytest.param(case, id=f"{index:02d}-{'error' if 'expected_error' in case else 'ok'}:"
                              f"{case['field_path']}={case['value'][:24]}")
        for index, case in enumerate(cases)
    ]


def _get_cases() -> list[Any]:
    """The getParameter cases read backwards: the text vanguard-go writes for a field must
    parse back into that field. Left out, as having no inverse: formatting errors (an
    enum number without a name cannot be written at all), repeated fields with several
    values (getParameter writes only the first), and texts that the corpus's own
    setParameter cases read differently (a quoted string in a StringValue is written as
    is but unquoted when read); for those, the setParameter cases above decide."""
    corpus = json.loads(CORPUS.read_text())
    read_as = {(case["field_path"], case["value"]): case.get("expected_fields")
               for case in corpus["set_parameter_cases"]}
    return [
        pytest.param(case, id=f"{index:02d}:{case['field_path']}="
                              f"{case['expected_query_value'][:24]}")
        for index, case in enumerate(corpus["get_parameter_cases"])
        if "expected_error" not in case
        and not _several_values(case["message_fields"])
        and read_as.get((case["field_path"], case["expected_query_value"]),
                        case["message_fields"]) == case["message_fields"]
    ]


def _several_values(fields: dict[str, Any]) -> bool:
    return any(isinstance(value, list) and len(value) > 1 for value in fields.values())


@pytest.mark.parametrize("case", _set_cases())
def test_set_parameter_corpus(message_class: type[Message], case: dict[str, Any]) -> None:
    message = message_class()
    for name, values in case.get("initial", {}).items():
        for value in values:
            set_query_parameter(message, [name], value)
    path = case["field_path"].split(".")
    if "expected_error" in case:
        with pytest.raises(QueryParameterError) as caught:
            set_query_parameter(message, path, case["value"])
        assert caught.value.name == case["field_path"]
        assert case["field_path"] in str(caught.value)
        assert message == message_class(), "a refused parameter must leave the message as it was"
        return
    set_query_parameter(message, path, case["value"])
    for name, expected in case["expected_fields"].items():
        _assert_field(message, name, expected)


@pytest.mark.parametrize("case", _get_cases())
def test_get_parameter_corpus_parses_back(
    message_class: type[Message], case: dict[str, Any]
) -> None:
    message = message_class()
    set_query_parameter(message, case["field_path"].split("."), case["expected_query_value"])
    for name, expected in case["message_fields"].items():
        _assert_field(message, name, expected)


def _assert_field(message: Message, name: str, expected: Any) -> None:
    """Compare one field with the corpus's notation (enums by name, bytes base64, WKT JSON)."""
    field = message.DESCRIPTOR.fields_by_name[name]
    actual = getattr(message, name)
    if field.is_repeated:
        assert len(actual) == len(expected)
        for item, want in zip(actual, expected, strict=True):
            _assert_value(field, item, want)
        return
    assert message.HasField(name) if field.message_type else True
    _assert_value(field, actual, expected)


def _assert_value(field: FieldDescriptor, actual: Any, expected: Any) -> None:
    message_type = field.message_type
    if message_type is None:
        _assert_scalar(field, actual, expected)
    elif message_type.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        assert actual.ToJsonString() == expected
    elif message_type.full_name == "google.protobuf.FieldMask":
        assert list(actual.paths) == expected["paths"]
    elif message_type.full_name in WRAPPERS:
        _assert_scalar(message_type.fields_by_name["value"], actual.value, expected)
    else:
        for name, want in expected.items():
            _assert_field(actual, name, want)


def _assert_scalar(field: FieldDescriptor, actual: Any, expected: Any) -> None:
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert actual == field.enum_type.values_by_name[expected].number
    elif field.type == FieldDescriptor.TYPE_BYTES:
        assert actual == base64.b64decode(expected)
    elif isinstance(expected, str) and field.type in (FieldDescriptor.TYPE_DOUBLE,
                                                      FieldDescriptor.TYPE_FLOAT):
        assert str(actual) == {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[expected]
    elif isinstance(expected, float):
        assert math.isclose(actual, expected, rel_tol=1e-15)
    else:
        assert actual == expected


# Behaviour beyond the corpus: the gateway's own decisions, written out.

def test_json_names_address_fields_at_every_level(message_class: type[Message]) -> None:
    message = message_class()
    set_query_parameter(message, ["recursive", "nested", "doubleValue"], "2.5")
    set_query_parameter(message, ["nested", "enumValue"], "ENUM_VALUE")
    assert message.recursive.nested.double_value == 2.5
    assert message.nested.enum_value == 1


def test_repeated_fields_append_in_order(message_class: type[Message]) -> None:
    message = message_class()
    for value in ("1", "2.5", "-3e2"):
        set_query_parameter(message, ["double_list"], value)
    set_query_parameter(message, ["double_value_list"], "7")
    assert list(message.double_list) == [1.0, 2.5, -300.0]
    assert [item.value for item in message.double_value_list] == [7.0]


def test_second_member_of_a_oneof_is_refused(message_class: type[Message]) -> None:
    message = message_class()
    set_query_parameter(message, ["oneof_double_value"], "1.5")
    set_query_parameter(message, ["oneof_double_value"], "2.5")  # the same member: replaced
    with pytest.raises(QueryParameterError, match="oneof"):
        set_query_parameter(message, ["oneof_enum_value"], "ENUM_VALUE")
    with pytest.raises(QueryParameterError, match="oneof"):
        set_query_parameter(message, ["oneof_double_value_wrapper"], "3")
    assert message.WhichOneof("oneof") == "oneof_double_value"
    assert message.oneof_double_value == 2.5


def test_struct_and_value_are_json_text(message_class: type[Message]) -> None:
    message = message_class()
    set_query_parameter(message, ["struct_value"], '{"a": [1, "x"], "b": null}')
    set_query_parameter(message, ["value"], "plain words")
    assert message.struct_value["a"][1] == "x"
    assert message.value.string_value == "plain words"
    set_query_parameter(message, ["value"], "12")
    assert message.value.number_value == 12
    with pytest.raises(QueryParameterError, match="struct_value"):
        set_query_parameter(message, ["struct_value"], "[1, 2]")


def test_well_known_strings_may_be_json_quoted(message_class: type[Message]) -> None:
    message = message_class()
    set_query_parameter(message, ["timestamp"], '"2024-02-29T12:30:00.5+01:00"')
    set_query_parameter(message, ["duration"], "-1.5s")
    set_query_parameter(message, ["field_mask"], "displayName,nested.double_value")
    assert message.timestamp.ToJsonString() == "2024-02-29T11:30:00.500Z"
    assert message.duration.ToJsonString() == "-1.500s"
    assert list(message.field_mask.paths) == ["display_name", "nested.double_value"]


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        pytest.param("int64_value", "1.0", "not an integer", id="int-with-fraction"),
        pytest.param("int64_value", " 1", "not an integer", id="int-with-space"),
        pytest.param("uint32_value", "-1", "out of range for uint32", id="uint-negative"),
        pytest.param("uint64_value", "18446744073709551616", "out of range", id="uint64-overflow"),
        pytest.param("double_value", "1e400", "out of range for double", id="double-overflow"),
        pytest.param("double_value", "nan", "not a number", id="lowercase-nan"),
        pytest.param("bool_value", "yes", "not a bool", id="bool-word"),
        pytest.param("bytes_value", "not base64!", "not base64", id="bytes-garbage"),
        pytest.param("enum_value", "2147483648", "out of range", id="enum-number-overflow"),
        pytest.param("timestamp", "2021-13-01T00:00:00Z", "not a Timestamp", id="bad-month"),
        pytest.param("timestamp", "null", "not a Timestamp", id="null-timestamp"),
        pytest.param("duration", "1h", "not a Duration", id="go-duration-syntax"),
        pytest.param("nested", "x", "cannot set a whole", id="whole-message"),
        pytest.param("double_value.x", "1", "not a message", id="through-a-scalar"),
        pytest.param("recursive_list.double_value", "1", "list or map", id="through-a-list"),
        pytest.param("enum_map", "ENUM_VALUE", "map field", id="map-leaf"),
        pytest.param("nested.unknown", "1", "has no field 'unknown'", id="unknown-nested"),
    ],
)
def test_refusals_name_the_parameter_and_the_problem(
    message_class: type[Message], path: str, value: str, problem: str
) -> None:
    message = message_class()
    with pytest.raises(QueryParameterError) as caught:
        set_query_parameter(message, path.split("."), value)
    assert caught.value.name == path
    assert problem in caught.value.problem
    assert isinstance(caught.value, ValueError)
    assert message == message_class()


def test_enum_numbers_outside_the_declared_values_are_kept_for_open_enums(
    message_class: type[Message],
) -> None:
    message = message_class()
    set_query_parameter(message, ["enum_value"], "7")  # proto3 enums are open
    assert message.enum_value == 7
