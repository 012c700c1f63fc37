"""Shopper events (POST /api/v1/events): batches of up to 100, partial success.

Valid events of a batch are stored even when others are invalid; the answer counts both
and, for gRPC callers, says which failed and why. Invalid events go to quarantine.
"""

from __future__ import annotations

from collections.abc import Callable

from alana.v1 import shopper_events_pb2 as pb
from alana.v1 import shopper_events_pb2_grpc as pb_grpc

from event_gateway import errors
from event_gateway.ingest import common
from event_gateway.scope import current_scope
from event_gateway.storage.base import EventRecord, RejectedRecord

MAX_BATCH = 100

_EventType = pb.EventType
_TYPE_NAMES = common.enum_wire_names(pb.EventType.DESCRIPTOR)

# Fields each event type needs besides visitorId (the documented table).
_Check = Callable[[pb.Event], bool]
_REQUIRED: dict[int, tuple[tuple[str, _Check], ...]] = {
    _EventType.EVENT_TYPE_HOME_PAGE_VIEW: (),
    _EventType.EVENT_TYPE_SHOPPING_CART_PAGE_VIEW: (),
    _EventType.EVENT_TYPE_SEARCH: (("query", lambda e: bool(e.query)),),
    _EventType.EVENT_TYPE_CATEGORY_VIEW: (("categoryPath", lambda e: bool(e.category_path)),),
    _EventType.EVENT_TYPE_DETAIL_PAGE_VIEW: (("productId", lambda e: bool(e.product_id)),),
    _EventType.EVENT_TYPE_ADD_TO_CART: (("productId", lambda e: bool(e.product_id)),),
    _EventType.EVENT_TYPE_PURCHASE_COMPLETE: (
        ("productIds", lambda e: len(e.product_ids) > 0),
        ("revenue", lambda e: e.HasField("revenue")),
        ("currency", lambda e: bool(e.currency)),
    ),
}


def event_violations(event: pb.Event) -> list[errors.FieldViolation]:
    """What is wrong with one event; field names are relative to the event (JSON names)."""
    out: list[errors.FieldViolation] = []
    checks = _REQUIRED.get(event.event_type)
    if checks is None:
        # Missing and unknown strings both arrive as UNSPECIFIED (the codec ignores
        # unknown enum strings), so one message covers both and names the choices.
        out.append(
            errors.FieldViolation(
                "eventType", f"eventType must be one of: {', '.join(_TYPE_NAMES)}", "invalid"
            )
        )
        checks = ()
    if not event.visitor_id:
        out.append(common.missing("visitorId"))
    for name, present in checks:
        if not present(event):
            out.append(common.missing(name))
    return out


def _record(receipt: common.Receipt, event: pb.Event) -> EventRecord:
    payload = common.payload_of(event)
    # The record's columns are read back from the payload: the encoder has already
    # read every set field once, in one ListFields call. An accepted event has a known
    # type and a visitorId; userId and productId are keys exactly when they are set.
    return receipt.record(
        payload["eventType"],
        payload,
        visitor_id=payload["visitorId"],
        user_id=payload.get("userId"),
        product_id=payload.get("productId"),
    )


class ShopperEventsServicer(common.Ingestor, pb_grpc.ShopperEventsServiceServicer):
    async def TrackEvents(  # noqa: N802 (gRPC method name)
        self, request: pb.TrackEventsRequest, context: common.MetadataContext
    ) -> pb.TrackEventsResponse:
        scope = current_scope()
        tenant = common.principal_tenant(scope)
        if len(request.events) > MAX_BATCH:
            # Refused whole, before anything is stored: the documented batch limit.
            raise errors.InvalidArgument(
                f"A batch holds at most {MAX_BATCH} events; got {len(request.events)}",
                [
                    errors.FieldViolation(
                        "events", f"at most {MAX_BATCH} events per request", "too_long"
                    )
                ],
                reason="BATCH_TOO_LARGE",
            )
        receipt = common.receipt(
            scope, tenant, common.request_headers(context), self._settings, self._clock
        )
        accepted: list[EventRecord] = []
        rejected: list[RejectedRecord] = []
        problems: list[pb.EventError] = []
        for index, event in enumerate(request.events):
            violations = event_violations(event)
            if not violations:
                accepted.append(_record(receipt, event))
                continue
            rejected.append(receipt.rejected(common.describe(violations), common.payload_of(event)))
            problems.extend(
                pb.EventError(index=index, field=v.field, reason=v.description) for v in violations
            )
        stored = 0
        if accepted or rejected:
            result = await self._writer.write(accepted, rejected)
            # Alana events carry no id, so every accepted event counts as stored.
            stored = result.stored + result.duplicates
        return pb.TrackEventsResponse(
            status="ok", stored=stored, errors=len(rejected), rejected=problems
        )
