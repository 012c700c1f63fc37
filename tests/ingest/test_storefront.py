from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from google.protobuf import json_format
from storefront.v1 import analytics_pb2 as pb

from event_gateway import errors
from event_gateway.config import Settings
from event_gateway.ingest.storefront import StorefrontAnalyticsServicer

from .conftest import NOW, FakeCatalog, FakeContext, FakeWriter, clock, invoke, violations

SERVICE = "/storefront.v1.StorefrontAnalyticsService"


def servicer(writer: FakeWriter, catalog: FakeCatalog, settings: Settings) -> StorefrontAnalyticsServicer:
    return StorefrontAnalyticsServicer(writer, catalog, settings, clock)


# --- Track -----------------------------------------------------------------------------------


async def track(writer, catalog, settings, req: pb.TrackRequest) -> pb.TrackResponse:
    s = servicer(writer, catalog, settings)
    return await invoke(f"{SERVICE}/Track", lambda: s.Track(req, FakeContext()), tenant=None)


async def test_track_documented_example(writer, catalog, settings) -> None:
    req = pb.TrackRequest(tenant_id="acme", type=pb.INTERACTION_TYPE_WHATSAPP_CLICK, product_id=101)
    req.metadata.update({"source": "catalog_page"})
    resp = await track(writer, catalog, settings, req)
    assert json_format.MessageToDict(resp) == {
        "success": True,
        "message": "Event accepted for processing",
    }
    (event,) = writer.events
    assert (event.api, event.tenant, event.event_type, event.product_id) == (
        "storefront", "acme", "whatsapp_click", "101",
    )
    # The product id is merged into metadata, as documented; numbers stay numbers.
    assert event.payload == {
        "tenant_id": "acme",
        "type": "whatsapp_click",
        "product_id": 101,
        "metadata": {"source": "catalog_page", "product_id": 101},
    }


async def test_track_without_product_or_metadata(writer, catalog, settings) -> None:
    await track(writer, catalog, settings, pb.TrackRequest(tenant_id="acme", type=pb.INTERACTION_TYPE_CALL))
    assert writer.events[0].payload == {"tenant_id": "acme", "type": "call"}


async def test_track_requires_tenant_and_type(writer, catalog, settings) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        await track(writer, catalog, settings, pb.TrackRequest())
    assert violations(caught.value) == {"tenant_id": "missing", "type": "missing"}
    # Laravel's words over gRPC too, as the REST answer gives them.
    assert [v.description for v in caught.value.violations] == [
        "The tenant id field is required.", "The type field is required."]
    assert catalog.lookups == [] and writer.calls == 0


@pytest.mark.parametrize("number", [42, -1])
async def test_track_undeclared_type_number_is_invalid_not_a_crash(writer, catalog, settings, number) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        await track(writer, catalog, settings, pb.TrackRequest(tenant_id="acme", type=number))
    assert violations(caught.value) == {"type": "invalid"}
    assert writer.calls == 0


@pytest.mark.parametrize("tenant_id", ["nobody", "closed"])
async def test_track_unknown_or_inactive_tenant_is_not_found(writer, catalog, settings, tenant_id) -> None:
    req = pb.TrackRequest(tenant_id=tenant_id, type=pb.INTERACTION_TYPE_CALL)
    with pytest.raises(errors.NotFound) as caught:
        await track(writer, catalog, settings, req)
    assert caught.value.message == "Tenant not found or not available"
    assert writer.calls == 0


async def test_track_product_of_another_tenant_is_invalid(writer, catalog, settings) -> None:
    req = pb.TrackRequest(tenant_id="acme", type=pb.INTERACTION_TYPE_CART_ADD, product_id=202)
    with pytest.raises(errors.InvalidArgument) as caught:
        await track(writer, catalog, settings, req)
    assert violations(caught.value) == {"product_id": "not_found"}
    assert caught.value.violations[0].description == "The selected product id is invalid."
    assert writer.calls == 0


async def test_track_store_failure_propagates(writer, catalog, settings) -> None:
    writer.fail_with = errors.ResourceExhausted("queue full", reason="QUEUE_FULL", retry_after=1)
    with pytest.raises(errors.ResourceExhausted):
        await track(writer, catalog, settings, pb.TrackRequest(tenant_id="acme", type=pb.INTERACTION_TYPE_CALL))


# --- Conversion ------------------------------------------------------------------------------


async def conversion(writer, catalog, settings, req: pb.ConversionRequest) -> pb.ConversionResponse:
    s = servicer(writer, catalog, settings)
    return await invoke(f"{SERVICE}/Conversion", lambda: s.Conversion(req, FakeContext()), tenant=None)


async def test_conversion_documented_example(writer, catalog, settings) -> None:
    req = pb.ConversionRequest(tenant_slug="acme-store", transaction_id="txn_abc123", value=150.0, currency="HNL")
    resp = await conversion(writer, catalog, settings, req)
    assert json_format.MessageToDict(resp) == {"status": "ok", "transaction_id": "txn_abc123"}
    (event,) = writer.events
    # No timestamp given: the documented default, server time.
    assert (event.tenant, event.event_type, event.dedup_key, event.occurred_at) == (
        "acme", "purchase", "txn_abc123", event.received_at,
    )


async def test_conversion_defaults_are_written_into_the_payload(writer, catalog, settings) -> None:
    resp = await conversion(writer, catalog, settings, pb.ConversionRequest(tenant_slug="acme-store"))
    assert json_format.MessageToDict(resp) == {"status": "ok"}
    assert writer.events[0].payload == {
        "tenant_slug": "acme-store",
        "value": 0.0,
        "currency": "HNL",
        "event": "purchase",
    }
    assert writer.events[0].dedup_key is None


@pytest.mark.parametrize("slug", ["", "nobody", "closed-shop"])
async def test_conversion_without_public_tenant_is_skipped(writer, catalog, settings, slug) -> None:
    req = pb.ConversionRequest(tenant_slug=slug, transaction_id="t1")
    resp = await conversion(writer, catalog, settings, req)
    assert json_format.MessageToDict(resp) == {"status": "skipped", "transaction_id": "t1"}
    assert writer.events == []
    (quarantined,) = writer.rejected
    assert quarantined.reason.startswith("tenant_slug:") and quarantined.tenant == ""


async def test_conversion_repeated_transaction_is_counted_once(writer, catalog, settings) -> None:
    req = pb.ConversionRequest(tenant_slug="acme-store", transaction_id="t1", value=10)
    first = await conversion(writer, catalog, settings, req)
    again = await conversion(writer, catalog, settings, req)
    assert first.status == again.status == "ok"
    assert len(writer.events) == 1


async def test_conversion_same_transaction_id_for_two_tenants_is_two_events(writer, catalog, settings) -> None:
    await conversion(writer, catalog, settings, pb.ConversionRequest(tenant_slug="acme-store", transaction_id="t1"))
    await conversion(writer, catalog, settings, pb.ConversionRequest(tenant_slug="globex", transaction_id="t1"))
    assert [e.tenant for e in writer.events] == ["acme", "globex"]


@pytest.mark.parametrize(
    "failure",
    [
        errors.Unavailable("down", retry_after=1),
        errors.ResourceExhausted("full", reason="QUEUE_FULL", retry_after=1),
        RuntimeError("bug"),
    ],
)
async def test_conversion_swallows_store_failures_as_skipped(writer, catalog, settings, failure) -> None:
    writer.fail_with = failure  # type: ignore[assignment]
    resp = await conversion(writer, catalog, settings, pb.ConversionRequest(tenant_slug="acme-store", transaction_id="t9"))
    assert json_format.MessageToDict(resp) == {"status": "skipped", "transaction_id": "t9"}


async def test_conversion_catalog_failure_is_skipped(writer, settings) -> None:
    class Broken(FakeCatalog):
        async def tenant_by_slug(self, slug: str):  # type: ignore[override]
            raise errors.Unavailable("catalog down")

    resp = await conversion(writer, Broken(), settings, pb.ConversionRequest(tenant_slug="acme-store"))
    assert resp.status == "skipped"


async def test_conversion_unknown_event_is_quarantined_and_skipped(writer, catalog, settings) -> None:
    req = pb.ConversionRequest(tenant_slug="acme-store", event="refund")
    resp = await conversion(writer, catalog, settings, req)
    assert resp.status == "skipped"
    assert writer.events == [] and "refund" in writer.rejected[0].reason


async def test_conversion_other_known_event(writer, catalog, settings) -> None:
    await conversion(writer, catalog, settings, pb.ConversionRequest(tenant_slug="acme-store", event="conversion"))
    assert writer.events[0].event_type == "conversion"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-12T09:30:00-03:00", datetime(2026, 3, 12, 12, 30, tzinfo=UTC)),
        ("2026-03-12T12:30:00Z", datetime(2026, 3, 12, 12, 30, tzinfo=UTC)),
        ("2026-03-12T12:30:00.123456789Z", datetime(2026, 3, 12, 12, 30, 0, 123456, tzinfo=UTC)),
        ("2026-03-12T12:30:00", datetime(2026, 3, 12, 12, 30, tzinfo=UTC)),
        ("2026-03-12 12:30:00", datetime(2026, 3, 12, 12, 30, tzinfo=UTC)),
        ("2026-03-12", datetime(2026, 3, 12, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        # Readable but outside datetime's years once moved to UTC: used to raise
        # OverflowError, and the beacon was answered "skipped" and lost.
        ("9999-12-31T23:59:59-01:00", None),
        ("0001-01-01T00:00:00+01:00", None),
    ],
)
async def test_conversion_timestamp_is_read_leniently(writer, catalog, settings, text, expected) -> None:
    req = pb.ConversionRequest(tenant_slug="acme-store", timestamp=text)
    resp = await conversion(writer, catalog, settings, req)
    assert resp.status == "ok"
    # Unreadable: the documented default, server time.
    assert writer.events[0].occurred_at == (expected or writer.events[0].received_at)
    # Kept as sent; an empty one is null to Laravel (ConvertEmptyStringsToNull): absent.
    assert writer.events[0].payload.get("timestamp") == (text or None)


async def test_conversion_far_future_timestamp_is_flagged_not_rewritten(writer, catalog, settings) -> None:
    req = pb.ConversionRequest(tenant_slug="acme-store", timestamp="2026-03-12T13:00:00Z")
    await conversion(writer, catalog, settings, req)
    event = writer.events[0]
    assert event.future_dated and event.occurred_at == datetime(2026, 3, 12, 13, tzinfo=UTC)
    assert event.received_at == NOW


async def test_conversion_within_tolerance_is_not_future_dated(writer, catalog, settings) -> None:
    req = pb.ConversionRequest(tenant_slug="acme-store", timestamp="2026-03-12T12:04:00Z")
    await conversion(writer, catalog, settings, req)
    assert not writer.events[0].future_dated


# --- RecordInteraction -----------------------------------------------------------------------


async def interaction(writer, catalog, settings, req, ctx: FakeContext | None = None):
    s = servicer(writer, catalog, settings)
    context = ctx or FakeContext()
    resp = await invoke(f"{SERVICE}/RecordInteraction", lambda: s.RecordInteraction(req, context), tenant=None)
    return resp, context


async def test_interaction_known_tenant_is_recorded(writer, catalog, settings) -> None:
    req = pb.RecordInteractionRequest(tenant_id=1, type=pb.INTERACTION_KIND_VIEW)
    resp, ctx = await interaction(writer, catalog, settings, req)
    assert json_format.MessageToDict(resp) == {"status": "success"}
    assert ctx.trailing_metadata() == ()  # 201 from the method option
    (event,) = writer.events
    assert (event.tenant, event.event_type) == ("acme", "view")
    assert event.payload == {"tenant_id": 1, "type": "view"}


@pytest.mark.parametrize(("number", "reason"), [(99, "tenant_id: unknown tenant"), (3, "tenant_id: inactive tenant")])
async def test_interaction_unknown_or_inactive_tenant_is_silently_accepted(
    writer, catalog, settings, number, reason
) -> None:
    req = pb.RecordInteractionRequest(tenant_id=number, type=pb.INTERACTION_KIND_MAPS_CLICK)
    resp, ctx = await interaction(writer, catalog, settings, req)
    assert json_format.MessageToDict(resp) == {"status": "accepted"}
    assert ("x-http-code", "202") in ctx.trailing_metadata()
    assert writer.events == []
    # Same work as the known path: one lookup, one single-row write (to quarantine).
    assert catalog.lookups == [f"number:{number}"] and writer.calls == 1
    assert writer.rejected[0].payload["tenant_id"] == number
    assert writer.rejected[0].reason == reason  # for the operator; the caller hears the same


async def test_interaction_store_failure_is_accepted_not_success(writer, catalog, settings) -> None:
    writer.fail_with = errors.Unavailable("down", retry_after=1)
    req = pb.RecordInteractionRequest(tenant_id=1, type=pb.INTERACTION_KIND_CALL_CLICK)
    resp, ctx = await interaction(writer, catalog, settings, req)
    assert resp.status == "accepted"
    assert ("x-http-code", "202") in ctx.trailing_metadata()


async def test_interaction_catalogue_failure_is_accepted_not_503(writer, catalog, settings) -> None:
    async def unreachable(number: int) -> None:
        raise errors.Unavailable("the database is unavailable", retry_after=1)

    catalog.tenant_by_number = unreachable  # type: ignore[method-assign]
    req = pb.RecordInteractionRequest(tenant_id=1, type=pb.INTERACTION_KIND_CALL_CLICK)
    resp, ctx = await interaction(writer, catalog, settings, req)
    assert resp.status == "accepted" and writer.calls == 0
    assert ("x-http-code", "202") in ctx.trailing_metadata()


async def test_interaction_keeps_trailing_metadata_set_by_interceptors(writer, catalog, settings) -> None:
    req = pb.RecordInteractionRequest(tenant_id=99, type=pb.INTERACTION_KIND_VIEW)
    _, ctx = await interaction(writer, catalog, settings, req, FakeContext(trailing=[("x-ratelimit-remaining", "5")]))
    assert ctx.trailing_metadata() == (("x-ratelimit-remaining", "5"), ("x-http-code", "202"))


async def test_interaction_requires_tenant_and_type(writer, catalog, settings) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        await interaction(writer, catalog, settings, pb.RecordInteractionRequest())
    assert violations(caught.value) == {"tenant_id": "missing", "type": "missing"}
    assert caught.value.violations[0].description == "The tenant id field is required."
    assert catalog.lookups == []


@pytest.mark.parametrize("number", [99, -1])
async def test_interaction_undeclared_type_number_is_invalid_not_a_crash(writer, catalog, settings, number) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        await interaction(writer, catalog, settings, pb.RecordInteractionRequest(tenant_id=1, type=number))
    assert violations(caught.value) == {"type": "invalid"}
    assert catalog.lookups == [] and writer.calls == 0


async def test_interaction_tenant_zero_is_present_and_unknown(writer, catalog, settings) -> None:
    resp, _ = await interaction(writer, catalog, settings, pb.RecordInteractionRequest(tenant_id=0, type=pb.INTERACTION_KIND_VIEW))
    assert resp.status == "accepted"


async def test_interaction_body_is_identical_for_unknown_tenant_and_store_failure(writer, catalog, settings) -> None:
    unknown, _ = await interaction(writer, catalog, settings, pb.RecordInteractionRequest(tenant_id=99, type=pb.INTERACTION_KIND_VIEW))
    writer.fail_with = errors.Unavailable("down")
    failed, _ = await interaction(writer, catalog, settings, pb.RecordInteractionRequest(tenant_id=1, type=pb.INTERACTION_KIND_VIEW))
    assert unknown.SerializeToString() == failed.SerializeToString()


# --- numbers JSON cannot hold (gRPC callers only) ----------------------------------------------


def _with_metadata(req, number: float):
    req.metadata.update({"nested": [{"n": number}], "ok": 1})
    return req


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
async def test_track_non_finite_metadata_is_invalid_not_a_crash(writer, catalog, settings, number) -> None:
    req = _with_metadata(pb.TrackRequest(tenant_id="acme", type=pb.INTERACTION_TYPE_CALL), number)
    with pytest.raises(errors.InvalidArgument) as caught:
        await track(writer, catalog, settings, req)
    assert violations(caught.value) == {"metadata": "finite"}
    assert writer.calls == 0


@pytest.mark.parametrize("number", [float("nan"), float("-inf")])
async def test_interaction_non_finite_metadata_is_invalid_not_a_crash(writer, catalog, settings, number) -> None:
    req = _with_metadata(pb.RecordInteractionRequest(tenant_id=1, type=pb.INTERACTION_KIND_VIEW), number)
    with pytest.raises(errors.InvalidArgument) as caught:
        await interaction(writer, catalog, settings, req)
    assert violations(caught.value) == {"metadata": "finite"}
    assert writer.calls == 0


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
async def test_conversion_non_finite_value_is_quarantined_and_skipped(writer, catalog, settings, value) -> None:
    req = pb.ConversionRequest(tenant_slug="acme-store", transaction_id="t-1", value=value)
    resp = await conversion(writer, catalog, settings, req)
    assert (resp.status, resp.transaction_id) == ("skipped", "t-1")
    assert writer.events == [] and writer.rejected[0].reason == "value: not a finite number"


# --- Laravel's input middleware, for gRPC callers too ------------------------------------------


async def test_grpc_track_is_read_as_laravels_middleware_leaves_it(writer, catalog, settings) -> None:
    # REST bodies are trimmed and "" made null while decoding; gRPC requests the same.
    req = pb.TrackRequest(tenant_id=" acme ", type=pb.INTERACTION_TYPE_CALL)
    req.metadata.update({"source": " page ", "empty": ""})
    await track(writer, catalog, settings, req)
    (event,) = writer.events
    assert event.tenant == "acme"
    assert event.payload == {"tenant_id": "acme", "type": "call", "metadata": {"source": "page", "empty": None}}
    with pytest.raises(errors.InvalidArgument) as caught:
        await track(writer, catalog, settings, pb.TrackRequest(tenant_id="   ", type=pb.INTERACTION_TYPE_CALL))
    assert violations(caught.value) == {"tenant_id": "missing"}


async def test_grpc_conversion_empty_strings_are_unset_as_laravel_reads_them(writer, catalog, settings) -> None:
    # An empty transaction id is no de-duplication key, an empty currency the default.
    req = pb.ConversionRequest(tenant_slug=" acme-store ", transaction_id="", currency=" ", event="")
    first = await conversion(writer, catalog, settings, req)
    again = await conversion(writer, catalog, settings, req)
    assert json_format.MessageToDict(first) == json_format.MessageToDict(again) == {"status": "ok"}
    assert [e.dedup_key for e in writer.events] == [None, None]
    assert writer.events[0].payload == {"tenant_slug": "acme-store", "value": 0.0, "currency": "HNL", "event": "purchase"}


# --- every failed field at once, as Laravel's validator reports them (2026-12-03) ---------------


def _unreadable(*fields: tuple[str, str, str, object]) -> FakeContext:
    # What the transcoder hands on for the top-level fields it could not read (REST).
    from event_gateway.ingest.common import UNDECODABLE_FIELDS_KEY

    described = [{"path": p, "reason": r, "detail": d, "value": v} for p, r, d, v in fields]
    return FakeContext(metadata=[(UNDECODABLE_FIELDS_KEY, orjson.dumps(described))])


async def test_track_reports_unreadable_fields_beside_its_own_checks_in_field_order(writer, catalog, settings) -> None:
    s = servicer(writer, catalog, settings)
    context = _unreadable(("product_id", "invalid", "not an integer: 'abc'", "abc"))
    req = pb.TrackRequest(type=pb.INTERACTION_TYPE_CALL)
    with pytest.raises(errors.InvalidArgument) as caught:
        await invoke(f"{SERVICE}/Track", lambda: s.Track(req, context), tenant=None)
    assert [(v.field, v.kind) for v in caught.value.violations] == [("tenant_id", "missing"), ("product_id", "invalid")]
    assert catalog.lookups == [] and writer.calls == 0


async def test_track_unreadable_type_is_invalid_not_missing(writer, catalog, settings) -> None:
    s = servicer(writer, catalog, settings)
    context = _unreadable(("product_id", "invalid", "not an integer: 'abc'", "abc"),
                          ("type", "invalid", "'nope' is not a value", "nope"))
    req = pb.TrackRequest(tenant_id="acme")
    with pytest.raises(errors.InvalidArgument) as caught:
        await invoke(f"{SERVICE}/Track", lambda: s.Track(req, context), tenant=None)
    assert [(v.field, v.kind) for v in caught.value.violations] == [("type", "invalid"), ("product_id", "invalid")]


async def test_interaction_reports_an_unreadable_tenant_and_a_missing_type(writer, catalog, settings) -> None:
    context = _unreadable(("tenant_id", "invalid", "not an integer: 'abc'", "abc"))
    with pytest.raises(errors.InvalidArgument) as caught:
        await interaction(writer, catalog, settings, pb.RecordInteractionRequest(), context)
    assert [(v.field, v.kind) for v in caught.value.violations] == [("tenant_id", "invalid"), ("type", "missing")]
    assert catalog.lookups == [] and writer.calls == 0
