"""Shopper events (POST /api/v1/events): batches of up to 100, partial success.

Valid events of a batch are stored even when others are invalid; the answer counts both
and, for gRPC callers, says which failed and why. Invalid events go to quarantine.
"""

from __future__ import annotations

from typing import Any

from alana.v1 import shopper_events_pb2 as pb
from alana.v1 import shopper_events_pb2_grpc as pb_grpc

from event_gateway import errors
from event_gateway.ingest import common
from event_gateway.scope import current_scope
from event_gateway.storage.base import EventRecord, RejectedRecord

MAX_BATCH = 100

_EventType = pb.EventType
_TYPE_NAMES = common.enum_wire_names(pb.EventType.DESCRIPTOR)
EVENT_TYPE_INVALID = f"eventType must be one of: {', '.join(_TYPE_NAMES)}"

# Fields each event type needs besides visitorId (the documented table), as
# (JSON name, whether an empty value counts as missing): revenue 0 is a revenue.
_REQUIRED_BY_NUMBER: dict[int, tuple[tuple[str, bool], ...]] = {
    _EventType.EVENT_TYPE_HOME_PAGE_VIEW: (),
    _EventType.EVENT_TYPE_SHOPPING_CART_PAGE_VIEW: (),
    _EventType.EVENT_TYPE_SEARCH: (("query", True),),
    _EventType.EVENT_TYPE_CATEGORY_VIEW: (("categoryPath", True),),
    _EventType.EVENT_TYPE_DETAIL_PAGE_VIEW: (("productId", True),),
    _EventType.EVENT_TYPE_ADD_TO_CART: (("productId", True),),
    _EventType.EVENT_TYPE_PURCHASE_COMPLETE: (
        ("productIds", True),
        ("revenue", False),
        ("currency", True),
    ),
}
# The same table by the payload's spelling of the type. The payload has no eventType
# for UNSPECIFIED and the bare number for a number the enum does not declare (gRPC
# callers can send one); neither is a key here, so both are refused as before.
_REQUIRED: dict[str, tuple[tuple[str, bool], ...]] = {
    common.enum_wire_name(pb.EventType.DESCRIPTOR.values_by_number[number]): checks
    for number, checks in _REQUIRED_BY_NUMBER.items()
}

# Each event's stored payload is built first and validated as it will be stored: its
# encoder reads every set field in one ListFields call, where checking the message
# field by field cost an attribute read or HasField per rule.
_payload = common.payload_encoder(pb.Event.DESCRIPTOR)


def event_violations(payload: dict[str, Any]) -> list[errors.FieldViolation]:
    """What is wrong with one event, given its payload (`common.payload_of(event)`).

    Field names are relative to the event (JSON names). A payload holds a field exactly
    when the message has it set (proto3 optional) or non-empty (the others).
    """
    out: list[errors.FieldViolation] = []
    checks = _REQUIRED.get(payload.get("eventType"))  # type: ignore[arg-type]  # int: undeclared
    if checks is None:
        # Missing and unknown strings both arrive as UNSPECIFIED (the codec ignores
        # unknown enum strings), so one message covers both and names the choices.
        out.append(errors.FieldViolation("eventType", EVENT_TYPE_INVALID, "invalid"))
        checks = ()
    if "visitorId" not in payload:
        out.append(common.missing("visitorId"))
    for name, nonempty in checks:
        value = payload.get(name)
        if value is None or (nonempty and not value):
            out.append(common.missing(name))
    revenue = payload.get("revenue")
    if isinstance(revenue, str):
        # The payload spells NaN and the infinities as strings (ProtoJSON); no sale has them.
        out.append(errors.FieldViolation("revenue", "revenue must be a finite number", "invalid"))
    return out


def _record(receipt: common.Receipt, payload: dict[str, Any]) -> EventRecord:
    # Only for a payload without violations: it has a known type and a visitorId;
    # userId and productId are keys exactly when they are set.
    return receipt.record(
        payload["eventType"],
        payload,
        visitor_id=payload["visitorId"],
        user_id=payload.get("userId"),
        product_id=payload.get("productId"),
    )


def _with_non_finite(event: pb.Event) -> tuple[dict[str, Any], list[errors.FieldViolation]]:
    """Payload and violations of an event whose metadata holds NaN or an infinity (gRPC
    callers only): the event is refused like any invalid one, and quarantined without the
    numbers JSON cannot hold, so the rest of its batch is unaffected."""
    kept = pb.Event()
    kept.CopyFrom(event)
    bad = common.non_finite_fields(event)
    for field in bad:
        kept.ClearField(field.name)
    payload = _payload(kept)
    violations = [
        errors.FieldViolation(
            f.json_name, f"{f.json_name} numbers must be finite (no NaN or Infinity)", "invalid"
        )
        for f in bad
    ]
    return payload, violations + event_violations(payload)


class ShopperEventsServicer(common.Ingestor, pb_grpc.ShopperEventsServiceServicer):
    async def TrackEvents(  # noqa: N802 (gRPC method name)
        self, request: pb.TrackEventsRequest, context: common.MetadataContext
    ) -> pb.TrackEventsResponse:
        scope = current_scope()
        tenant = await self.accepting_tenant(scope)
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
        unreadable = common.undecodable_elements(context)
        for index, event in enumerate(request.events):
            if unreadable and index in unreadable:
                # Over REST, a value of the wrong JSON type fails that event only.
                sent = unreadable[index]
                # Any eventType the codec could not read (a number, another spelling)
                # gets the same words as a missing one: the codec's words name the
                # proto enum, which clients have never heard of.
                reason = EVENT_TYPE_INVALID if sent.field == "eventType" else sent.description
                rejected.append(receipt.rejected(reason, sent.payload))
                problems.append(pb.EventError(index=index, field=sent.field, reason=reason))
                continue
            try:
                payload = _payload(event)
            except ValueError:
                payload, violations = _with_non_finite(event)
            else:
                violations = event_violations(payload)
            if not violations:
                accepted.append(_record(receipt, payload))
                continue
            rejected.append(receipt.rejected(common.describe(violations), payload))
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
