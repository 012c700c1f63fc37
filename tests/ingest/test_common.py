"""Receipt: the records every servicer builds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from event_gateway import errors
from event_gateway.ingest import common
from event_gateway.ingest.common import Ingestor, Receipt
from event_gateway.scope import current_scope
from event_gateway.storage.base import EventRecord, RejectedRecord

from .conftest import CLIENT_IP, NOW, invoke


def _receipt() -> Receipt:
    return Receipt("depict", "acme", NOW, CLIENT_IP, "curl/8", timedelta(seconds=60))


def test_record_puts_every_value_in_its_own_field() -> None:
    # Receipt.record builds the tuple positionally: a value in the wrong slot would be
    # stored in the wrong column, so every field gets a distinct value here.
    payload = {"a": 1}
    at = NOW - timedelta(minutes=1)
    record = _receipt().record(
        "view", payload, occurred_at=at, visitor_id="v", user_id="u", session_id="s",
        product_id="p", dedup_key="d",
    )
    assert type(record) is EventRecord
    assert record == EventRecord(
        api="depict", tenant="acme", event_type="view", received_at=NOW, payload=payload,
        occurred_at=at, visitor_id="v", user_id="u", session_id="s", product_id="p",
        client_ip=CLIENT_IP, user_agent="curl/8", dedup_key="d", future_dated=False,
    )
    assert record._asdict()["user_agent"] == "curl/8"
    assert record.payload is payload


@pytest.mark.parametrize("empty", ["", None])
def test_record_stores_empty_identifiers_as_null(empty: str | None) -> None:
    record = _receipt().record(
        "view", {}, visitor_id=empty, user_id=empty, session_id=empty, product_id=empty,
        dedup_key=empty,
    )
    assert record == EventRecord(
        "depict", "acme", "view", NOW, {}, client_ip=CLIENT_IP, user_agent="curl/8"
    )


def test_record_flags_a_client_time_beyond_the_tolerance() -> None:
    receipt = _receipt()
    assert not receipt.record("view", {}, occurred_at=NOW + timedelta(seconds=60)).future_dated
    assert receipt.record("view", {}, occurred_at=NOW + timedelta(seconds=61)).future_dated


def test_rejected_keeps_the_reason_and_the_payload() -> None:
    assert _receipt().rejected("visitorId: missing", {"x": 1}) == RejectedRecord(
        api="depict", tenant="acme", reason="visitorId: missing", received_at=NOW,
        payload={"x": 1}, client_ip=CLIENT_IP,
    )


@pytest.mark.parametrize(
    "method", ["/alana.v1.ShopperEventsService/TrackEvents", "/depict.v1.DepictEventsService/CreateEvents",
               "/topsort.v2.TopsortEventsService/ReportEvents"],
)
@pytest.mark.parametrize("tenant", ["closed", "gone"], ids=["inactive", "unknown"])
async def test_a_key_of_a_tenant_not_accepting_events_is_refused_before_anything_is_stored(
    writer, catalog, settings, method: str, tenant: str
) -> None:
    ingestor = Ingestor(writer, catalog, settings)
    with pytest.raises(errors.PermissionDenied) as caught:
        await invoke(method, lambda: ingestor.accepting_tenant(current_scope()), tenant=tenant)
    assert caught.value.reason == "TENANT_INACTIVE"
    assert await invoke(method, lambda: ingestor.accepting_tenant(current_scope())) == "acme"


def test_a_long_or_nul_deduplication_id_is_stored_as_its_digest() -> None:
    short = "evt-1"
    long_id = "é" * (common.MAX_DEDUP_KEY_CHARS + 1)
    assert common.dedup_key_of(short) == short and common.dedup_key_of("") is None
    assert common.dedup_key_of("x" * common.MAX_DEDUP_KEY_CHARS) == "x" * common.MAX_DEDUP_KEY_CHARS
    digest = common.dedup_key_of(long_id)
    assert digest is not None and digest.startswith("sha256:") and len(digest) == 71
    assert digest == common.dedup_key_of(long_id) != common.dedup_key_of(long_id + "x")
    # A NUL is kept apart from the U+FFFD PostgreSQL would have mended it into.
    assert common.dedup_key_of("a\x00b") != common.dedup_key_of("a\ufffdb") == "a\ufffdb"


class _Metadata:
    def __init__(self, *entries: tuple[str, object]) -> None:
        self._entries = entries

    def invocation_metadata(self) -> tuple[tuple[str, object], ...]:
        return self._entries


def test_undecodable_fields_carry_each_value_under_its_top_level_key() -> None:
    described = (b'[{"index": -1, "path": "item.count", "reason": "invalid", "detail": "not an integer",'
                 b' "value": {"count": "x"}}, {"index": -1, "path": "value", "reason": "type",'
                 b' "detail": "expected number, got array", "value": [1]}]')
    found = common.undecodable_fields(_Metadata((common.UNDECODABLE_FIELDS_KEY, described)))
    assert [(u.field, u.payload) for u in found] == [("item.count", {"item": {"count": "x"}}), ("value", {"value": [1]})]
    assert found[1].description == "value has the wrong JSON type (expected number, got array)"


@pytest.mark.parametrize("entry", [b"[{", b'{"path": "x"}', b'[{"path": ""}]', b'[{"value": 1}]', "text"])
def test_a_malformed_undecodable_fields_entry_is_ignored(entry: object) -> None:
    assert common.undecodable_fields(_Metadata((common.UNDECODABLE_FIELDS_KEY, entry))) == []
    assert common.undecodable_fields(_Metadata()) == []
