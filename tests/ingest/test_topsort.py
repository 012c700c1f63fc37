from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import json_format
from topsort.v2 import events_pb2 as pb

from event_gateway import errors
from event_gateway.config import Settings
from event_gateway.ingest.topsort import TopsortEventsServicer

from .conftest import FakeCatalog, FakeContext, FakeWriter, clock, invoke, violations

METHOD = "/topsort.v2.TopsortEventsService/ReportEvents"
EXAMPLE = Path(__file__).parents[1] / "data" / "seed_examples" / "topsort_events.json"


async def report(
    writer: FakeWriter, catalog: FakeCatalog, settings: Settings, body: dict[str, object]
) -> pb.ReportEventsResponse:
    s = TopsortEventsServicer(writer, catalog, settings, clock)
    req = json_format.ParseDict(body, pb.ReportEventsRequest())
    return await invoke(METHOD, lambda: s.ReportEvents(req, FakeContext()))


def documented() -> dict[str, object]:
    return json.loads(EXAMPLE.read_text())  # type: ignore[no-any-return]


def click(**fields: object) -> dict[str, object]:
    return {"id": "c1", "occurredAt": "2019-01-01T13:01:42-05:00", "opaqueUserId": "u1", **fields}


async def test_documented_example_is_stored(writer, catalog, settings) -> None:
    resp = await report(writer, catalog, settings, documented())
    assert (resp.stored, resp.duplicates) == (5, 0)
    assert [e.event_type for e in writer.events] == [
        "impression", "click", "purchase", "purchase", "pageview",
    ]
    impression = writer.events[0]
    assert impression.tenant == "acme" and impression.visitor_id == "71303ce0-de89-496d-8270-6434589615e8"
    assert impression.dedup_key == "impression:eb874c98-bf4d-40a9-ae6d-fcf4cecb535c"
    assert impression.occurred_at == datetime(2019, 1, 1, 17, 59, 59, tzinfo=UTC)
    assert impression.payload["placement"]["pageSize"] == 15
    assert writer.events[2].payload["items"][0] == {
        "productId": "p_SA0238", "unitPrice": 12.95, "quantity": 2, "vendorId": "v_8fj2D",
    }


async def test_retry_is_acknowledged_without_storing_twice(writer, catalog, settings) -> None:
    await report(writer, catalog, settings, documented())
    again = await report(writer, catalog, settings, documented())
    assert (again.stored, again.duplicates) == (0, 5)


async def test_same_id_in_two_kinds_is_two_events(writer, catalog, settings) -> None:
    resp = await report(writer, catalog, settings, {"impressions": [click()], "clicks": [click()]})
    assert resp.stored == 2


async def test_placement_is_not_required(writer, catalog, settings) -> None:
    resp = await report(writer, catalog, settings, {"clicks": [click()]})
    assert resp.stored == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"clicks": [{}]}, {"clicks[0].id", "clicks[0].occurredAt", "clicks[0].opaqueUserId"}),
        ({"impressions": [click(id="")]}, {"impressions[0].id"}),
        ({"purchases": [click()]}, {"purchases[0].items"}),
        (
            {"purchases": [click(items=[{"productId": "p", "unitPrice": 1}]), click(items=[{"unitPrice": 2}, {"productId": "q", "unitPrice": -1}])]},
            {"purchases[1].items[0].productId", "purchases[1].items[1].unitPrice"},
        ),
        ({"purchases": [click(items=[{"productId": "p", "unitPrice": 1, "quantity": 0}])]}, {"purchases[0].items[0].quantity"}),
        ({"purchases": [click(items=[{"productId": "p"}])]}, {"purchases[0].items[0].unitPrice"}),
        ({"pageviews": [click()]}, {"pageviews[0].page"}),
        ({"pageviews": [click(page={"value": "x"})]}, {"pageviews[0].page.type", "pageviews[0].page.pageId"}),
        ({"purchases": [click(items=[{"productId": "p", "unitPrice": "NaN"}])]}, {"purchases[0].items[0].unitPrice"}),
        ({"purchases": [click(items=[{"productId": "p", "unitPrice": "-Infinity"}])]}, {"purchases[0].items[0].unitPrice"}),
    ],
)
async def test_invalid_event_refuses_the_request_naming_event_and_field(writer, catalog, settings, body, expected) -> None:
    body = {"clicks": [click(id="ok")], **body}
    with pytest.raises(errors.InvalidArgument) as caught:
        await report(writer, catalog, settings, body)
    assert set(violations(caught.value)) == expected
    assert writer.calls == 0


async def test_quantity_and_vendor_are_optional(writer, catalog, settings) -> None:
    resp = await report(writer, catalog, settings, {"purchases": [click(items=[{"productId": "p", "unitPrice": 0}])]})
    assert resp.stored == 1


async def test_future_occurred_at_is_flagged(writer, catalog, settings) -> None:
    await report(writer, catalog, settings, {"clicks": [click(occurredAt="2030-01-01T00:00:00Z")]})
    assert writer.events[0].future_dated


async def test_empty_report_is_ok_and_writes_nothing(writer, catalog, settings) -> None:
    resp = await report(writer, catalog, settings, {})
    assert (resp.stored, resp.duplicates) == (0, 0) and writer.calls == 0


async def test_writer_failure_propagates(writer, catalog, settings) -> None:
    writer.fail_with = errors.Unavailable("down", retry_after=1)
    with pytest.raises(errors.Unavailable):
        await report(writer, catalog, settings, {"clicks": [click()]})



@pytest.mark.parametrize(
    "occurred_at",
    [
        {"seconds": -10**12},  # before year 1
        {"seconds": 253_402_300_800},  # after 9999-12-31T23:59:59Z
        {"seconds": 0, "nanos": 1_000_000_000},
        {"seconds": 0, "nanos": -1},
    ],
)
async def test_out_of_range_timestamp_from_grpc_is_invalid_not_a_crash(writer, catalog, settings, occurred_at) -> None:
    # REST's RFC 3339 parsing never yields these; a gRPC caller can send any two integers.
    s = TopsortEventsServicer(writer, catalog, settings, clock)
    req = pb.ReportEventsRequest(clicks=[pb.Click(id="c1", opaque_user_id="u1")])
    req.clicks[0].occurred_at.seconds = occurred_at["seconds"]
    req.clicks[0].occurred_at.nanos = occurred_at.get("nanos", 0)
    with pytest.raises(errors.InvalidArgument) as caught:
        await invoke(METHOD, lambda: s.ReportEvents(req, FakeContext()))
    assert set(violations(caught.value)) == {"clicks[0].occurredAt"}
    assert writer.calls == 0
