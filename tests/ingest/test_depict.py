from __future__ import annotations

import pytest
from depict.v1 import events_pb2 as pb
from google.protobuf import json_format

from event_gateway import errors
from event_gateway.config import Settings
from event_gateway.ingest.depict import DepictEventsServicer

from .conftest import FakeCatalog, FakeContext, FakeWriter, clock, invoke, violations

METHOD = "/depict.v1.DepictEventsService/CreateEvents"


def event(**fields: object) -> pb.Event:
    base: dict[str, object] = {"tenant": "acme", "market": "se", "type": pb.EVENT_TYPE_PAGE_VIEW}
    base.update(fields)
    return pb.Event(**base)  # type: ignore[arg-type]


async def create(
    writer: FakeWriter, catalog: FakeCatalog, settings: Settings, *events: pb.Event,
    metadata: tuple[tuple[str, str], ...] = (), tenant: str = "acme",
) -> pb.CreateEventsResponse:
    s = DepictEventsServicer(writer, catalog, settings, clock)
    req = pb.CreateEventsRequest(events=events)
    return await invoke(METHOD, lambda: s.CreateEvents(req, FakeContext(metadata)), tenant=tenant)


async def test_events_are_stored_under_the_keys_tenant_not_the_bodys(writer, catalog, settings) -> None:
    resp = await create(writer, catalog, settings, event(tenant="someone-else", user_id="u1", session_id="s1", product_id="p1"))
    assert json_format.MessageToDict(resp) == {"stored": 1, "duplicates": 0}
    (stored,) = writer.events
    assert (stored.api, stored.tenant, stored.event_type) == ("depict", "acme", "page_view")
    assert (stored.user_id, stored.session_id, stored.product_id) == ("u1", "s1", "p1")
    assert stored.payload["tenant"] == "someone-else"  # kept, but only as data


async def test_payload_is_snake_case_as_sent(writer, catalog, settings) -> None:
    e = event(type=pb.EVENT_TYPE_RECOMMENDATIONS_INSERTED, variant_ids=["v1"], page_url="https://x/p")
    e.entity_identifiers.update({"sku": "A1"})
    await create(writer, catalog, settings, e)
    assert writer.events[0].payload == {
        "tenant": "acme",
        "market": "se",
        "type": "recommendations_inserted",
        "variant_ids": ["v1"],
        "entity_identifiers": {"sku": "A1"},
        "page_url": "https://x/p",
    }


async def test_forwarded_headers_are_captured(writer, catalog, settings) -> None:
    metadata = (
        ("referer", "https://shop.example/p/1"),
        ("user-agent", "Mozilla/5.0"),
        ("x-forwarded-for", "198.51.100.7, 10.0.0.1"),
        ("x-forwarded-host", "shop.example"),
        ("api_key", "egk_secret_should_not_be_kept"),
    )
    await create(writer, catalog, settings, event(), metadata=metadata)
    stored = writer.events[0]
    assert stored.user_agent == "Mozilla/5.0"
    assert stored.payload["_context"] == {
        "referer": "https://shop.example/p/1",
        "user-agent": "Mozilla/5.0",
        "x-forwarded-for": "198.51.100.7, 10.0.0.1",
        "x-forwarded-host": "shop.example",
    }


async def test_no_context_key_without_those_headers(writer, catalog, settings) -> None:
    await create(writer, catalog, settings, event())
    assert "_context" not in writer.events[0].payload


async def test_any_invalid_event_fails_the_request_listing_every_violation(writer, catalog, settings) -> None:
    bad = pb.Event(dsid="")
    with pytest.raises(errors.InvalidArgument) as caught:
        await create(writer, catalog, settings, event(), bad, event(market=""))
    assert violations(caught.value) == {
        "events[1].tenant": "missing",
        "events[1].market": "missing",
        "events[1].type": "missing",
        "events[1].dsid": "string_too_short",
        "events[2].market": "missing",
    }
    descriptions = {v.field: v.description for v in caught.value.violations}
    assert descriptions["events[1].tenant"] == "Field required"
    assert descriptions["events[1].type"].startswith("Field required: one of page_view, click")
    assert descriptions["events[1].dsid"] == "String should have at least 1 character"
    assert writer.calls == 0


async def test_dsid_absent_is_fine(writer, catalog, settings) -> None:
    resp = await create(writer, catalog, settings, event(), event(dsid="d"))
    assert resp.stored == 2


async def test_deduplication_id_stores_once_and_the_retry_succeeds(writer, catalog, settings) -> None:
    first = await create(writer, catalog, settings, event(deduplication_id="evt-1"))
    retry = await create(writer, catalog, settings, event(deduplication_id="evt-1"))
    assert (first.stored, first.duplicates) == (1, 0)
    assert (retry.stored, retry.duplicates) == (0, 1)
    assert len(writer.events) == 1 and writer.events[0].dedup_key == "evt-1"


async def test_deduplication_is_per_tenant(writer, catalog, settings) -> None:
    await create(writer, catalog, settings, event(deduplication_id="evt-1"))
    resp = await create(writer, catalog, settings, event(deduplication_id="evt-1"), tenant="globex")
    assert resp.stored == 1


async def test_empty_deduplication_id_is_no_key(writer, catalog, settings) -> None:
    await create(writer, catalog, settings, event(deduplication_id=""), event(deduplication_id=""))
    assert [e.dedup_key for e in writer.events] == [None, None]


async def test_empty_array_is_ok(writer, catalog, settings) -> None:
    resp = await create(writer, catalog, settings)
    assert json_format.MessageToDict(resp) == {"stored": 0, "duplicates": 0}
    assert writer.calls == 0


async def test_more_events_than_the_write_queue_holds_is_a_client_error_not_a_retry(writer, catalog) -> None:
    # Found by a black-box run: 20,001 events always got 503 + Retry-After.
    settings = Settings(writer={"queue_rows": 3})
    assert json_format.MessageToDict(await create(writer, catalog, settings, *[event()] * 3)) == {
        "stored": 3, "duplicates": 0}
    with pytest.raises(errors.InvalidArgument) as caught:
        await create(writer, catalog, settings, *[event()] * 4)
    assert violations(caught.value) == {"events": "too_long"}
    assert caught.value.violations[0].description == "List should have at most 3 items after validation, not 4"
    assert writer.calls == 1


async def test_writer_failure_propagates(writer, catalog, settings) -> None:
    writer.fail_with = errors.ResourceExhausted("full", reason="QUEUE_FULL", retry_after=2)
    with pytest.raises(errors.ResourceExhausted):
        await create(writer, catalog, settings, event())


@pytest.mark.parametrize("number", [7 + 1, 99, -1])
async def test_undeclared_type_number_is_an_enum_error_not_a_crash(writer, catalog, settings, number) -> None:
    # Open enums keep any number a gRPC caller (or a REST caller, in ProtoJSON) sends.
    with pytest.raises(errors.InvalidArgument) as caught:
        await create(writer, catalog, settings, event(type=number))
    assert violations(caught.value) == {"events[0].type": "invalid"}
    (violation,) = caught.value.violations
    assert violation.description == (
        "type must be one of: page_view, click, add_to_cart, purchase, element_visible, "
        "ws_click, recommendations_inserted"
    )
    assert writer.calls == 0


@pytest.mark.parametrize("number", [float("nan"), float("inf")])
async def test_entity_identifiers_with_a_non_finite_number_fail_the_request(
    writer, catalog, settings, number
) -> None:
    bad = event()
    bad.entity_identifiers.update({"sku": [number]})
    with pytest.raises(errors.InvalidArgument) as caught:
        await create(writer, catalog, settings, event(), bad)
    assert violations(caught.value) == {"events[1].entity_identifiers": "finite_number"}
    assert caught.value.violations[0].description == "Input should be a finite number"
    assert writer.calls == 0
