"""The Protobuf contract against the four documented APIs.

Every documented REST path is annotated exactly once, and every documented JSON example
(copied verbatim into tests/data/seed_examples) decodes into its request message and
prints back with the documented names and values.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from google.api import annotations_pb2
from google.protobuf.message import Message

from event_gateway.contract import default_contract, enum_json_value
from event_gateway.transcoding.codec import CodecOptions, MessageCodec

EXAMPLES = Path(__file__).parent / "data" / "seed_examples"

DOCUMENTED_ROUTES = [
    ("POST", "/api/v1/events"),
    ("POST", "/api/v1/analytics/track"),
    ("POST", "/api/v1/analytics/conversion"),
    ("POST", "/api/v1/interactions"),
    ("POST", "/create-events"),
    ("POST", "/v2/events"),
]


def annotated_routes() -> list[tuple[str, str, str]]:
    routes = []
    for method in default_contract().methods.values():
        rule = method.descriptor.GetOptions().Extensions[annotations_pb2.http]
        for binding in [rule, *rule.additional_bindings]:
            verb = binding.WhichOneof("pattern")
            assert verb is not None, f"{method.full_name} has no google.api.http pattern"
            routes.append((verb.upper(), getattr(binding, verb), binding.body))
    return routes


def test_every_documented_route_is_annotated_exactly_once() -> None:
    counts = Counter((verb, path) for verb, path, _ in annotated_routes())
    for route in DOCUMENTED_ROUTES:
        assert counts[route] == 1, f"{route} annotated {counts[route]} times"
    assert set(counts) == set(DOCUMENTED_ROUTES)


def test_depict_binds_its_top_level_array_to_the_repeated_field() -> None:
    bodies = {path: body for _, path, body in annotated_routes()}
    assert bodies["/create-events"] == "events"
    assert all(body == "*" for path, body in bodies.items() if path != "/create-events")


def codec_for(message: Message) -> MessageCodec:
    return MessageCodec.for_descriptor(
        message.DESCRIPTOR, CodecOptions(enum_json_value=enum_json_value)
    )


def request_type(api: str, method: str) -> type[Message]:
    from google.protobuf import message_factory

    spec = default_contract().method(f"/{api}/{method}")
    assert spec is not None
    return message_factory.GetMessageClass(spec.descriptor.input_type)


def response_type(api: str, method: str) -> type[Message]:
    from google.protobuf import message_factory

    spec = default_contract().method(f"/{api}/{method}")
    assert spec is not None
    return message_factory.GetMessageClass(spec.descriptor.output_type)


def normalise(value: Any) -> Any:
    """JSON compared by value: RFC 3339 timestamps as instants (protojson prints them in
    UTC) and 64-bit integers as numbers (proto3 JSON prints int64 as a string; the
    storefront's int64 ids are request-only, so clients never read that spelling)."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and "T" in value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return value
    return value


BODY_EXAMPLES = [
    ("alana_curl.json", "alana.v1.ShopperEventsService", "TrackEvents"),
    ("alana_request_format.json", "alana.v1.ShopperEventsService", "TrackEvents"),
    ("storefront_track.json", "storefront.v1.StorefrontAnalyticsService", "Track"),
    ("storefront_conversion.json", "storefront.v1.StorefrontAnalyticsService", "Conversion"),
    ("storefront_interactions.json", "storefront.v1.StorefrontAnalyticsService", "RecordInteraction"),
    ("topsort_events.json", "topsort.v2.TopsortEventsService", "ReportEvents"),
]


@pytest.mark.parametrize(("example", "service", "method"), BODY_EXAMPLES, ids=[e[0] for e in BODY_EXAMPLES])
def test_documented_request_example_round_trips(example: str, service: str, method: str) -> None:
    original = json.loads((EXAMPLES / example).read_text())
    message = request_type(service, method)()
    codec = codec_for(message)
    decoded = codec.decode((EXAMPLES / example).read_bytes())
    printed = json.loads(codec.encode(decoded))
    assert normalise(printed) == normalise(original)
    assert decoded.ListFields(), "the example decoded into an empty message"


def test_depict_top_level_array_example_round_trips() -> None:
    original = json.loads((EXAMPLES / "depict_create_events.json").read_text())
    message = request_type("depict.v1.DepictEventsService", "CreateEvents")()
    codec = codec_for(message)
    codec.decode_into_field(message, "events", original)
    assert len(message.events) == 1
    assert json.loads(codec.encode(message)) == {"events": original}


def test_documented_enum_spellings_decode_to_typed_values() -> None:
    from alana.v1 import shopper_events_pb2 as alana

    message = codec_for(alana.TrackEventsRequest()).decode(
        (EXAMPLES / "alana_request_format.json").read_bytes()
    )
    assert [e.event_type for e in message.events] == [
        alana.EVENT_TYPE_SEARCH,
        alana.EVENT_TYPE_DETAIL_PAGE_VIEW,
    ]


def test_documented_shopper_response_prints_exactly() -> None:
    text = (EXAMPLES / "alana_response.json").read_text()
    response = response_type("alana.v1.ShopperEventsService", "TrackEvents")
    codec = codec_for(response())
    assert json.loads(codec.encode(codec.decode(text.encode()))) == json.loads(text)
    # A clean batch prints exactly the documented body: zero errors included, no "rejected".
    clean = response(status="ok", stored=2, errors=0)
    assert json.loads(codec.encode(clean)) == {"status": "ok", "stored": 2, "errors": 0}
