"""Recommendation events (POST /create-events?api_key=): a top-level JSON array.

The original service validates the whole body with pydantic before doing anything, so
one bad event fails the request (422) with every violation listed, and nothing is
stored. `deduplication_id` makes retries safe: stored once per tenant, acknowledged again.
"""

from __future__ import annotations

from collections.abc import Mapping

from depict.v1 import events_pb2 as pb
from depict.v1 import events_pb2_grpc as pb_grpc

from event_gateway import errors
from event_gateway.ingest import common
from event_gateway.scope import current_scope
from event_gateway.storage.base import EventRecord

# The documented request headers, kept with each event (user-agent also gets its column).
CONTEXT_HEADERS = ("referer", "user-agent", "x-forwarded-for", "x-forwarded-host")
CONTEXT_KEY = "_context"

# pydantic v2's own wording, which the FastAPI dialect renders for these kinds.
_TYPE_CHOICES = common.enum_wire_names(pb.EventType.DESCRIPTOR)
FIELD_REQUIRED = "Field required"
TYPE_REQUIRED = f"Field required: one of {', '.join(_TYPE_CHOICES)}"
TOO_SHORT = "String should have at least 1 character"
NOT_FINITE = "Input should be a finite number"
TYPE_INVALID = f"type must be one of: {', '.join(_TYPE_CHOICES)}"


def event_violations(index: int, event: pb.Event) -> list[errors.FieldViolation]:
    path = f"events[{index}]"
    out: list[errors.FieldViolation] = []
    # proto3 cannot tell an absent string from "": both are reported as missing.
    if not event.tenant:
        out.append(errors.FieldViolation(f"{path}.tenant", FIELD_REQUIRED, "missing"))
    if not event.market:
        out.append(errors.FieldViolation(f"{path}.market", FIELD_REQUIRED, "missing"))
    if event.type == pb.EVENT_TYPE_UNSPECIFIED:
        # Absent and unknown strings both arrive as UNSPECIFIED (the codec drops unknown
        # enum strings). Reported as pydantic reports the absent case; the description,
        # which gRPC callers see, also names the choices for the misspelt case.
        out.append(errors.FieldViolation(f"{path}.type", TYPE_REQUIRED, "missing"))
    elif not common.declared(pb.EventType.DESCRIPTOR, event.type):
        # "invalid" on an enum field: the FastAPI dialect words it as pydantic's enum error.
        out.append(errors.FieldViolation(f"{path}.type", TYPE_INVALID, "invalid"))
    if event.HasField("dsid") and not event.dsid:
        out.append(errors.FieldViolation(f"{path}.dsid", TOO_SHORT, "string_too_short"))
    for field in common.non_finite_fields(event):  # gRPC callers only: JSON has no NaN
        out.append(errors.FieldViolation(f"{path}.{field.json_name}", NOT_FINITE, "finite_number"))
    return out


def _violations(
    request: pb.CreateEventsRequest, unreadable: Mapping[int, common.Undecodable]
) -> list[errors.FieldViolation]:
    """Every event's violations in order; an event the transcoder could not read (REST
    only) is reported as the codec found it, since it arrived empty."""
    out: list[errors.FieldViolation] = []
    for index, event in enumerate(request.events):
        sent = unreadable.get(index) if unreadable else None
        if sent is None:
            out.extend(event_violations(index, event))
            continue
        field = f"events[{index}]" + (f".{sent.field}" if sent.field else "")
        out.append(errors.FieldViolation(field, sent.detail, sent.reason))
    return out


def request_context(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in CONTEXT_HEADERS if headers.get(name)}


class DepictEventsServicer(common.Ingestor, pb_grpc.DepictEventsServiceServicer):
    async def CreateEvents(  # noqa: N802
        self, request: pb.CreateEventsRequest, context: common.MetadataContext
    ) -> pb.CreateEventsResponse:
        scope = current_scope()
        # The key decides the tenant; the body's "tenant" is only kept in the payload.
        tenant = await self.accepting_tenant(scope)
        most = self._settings.writer.queue_rows
        if len(request.events) > most:
            # One request is one transaction, which must fit in the write queue: a 503
            # would send the client back to retry what can never fit.
            message = f"List should have at most {most} items after validation, not {len(request.events)}"
            raise errors.InvalidArgument(message, [errors.FieldViolation("events", message, "too_long")])
        violations = _violations(request, common.undecodable_elements(context))
        if violations:
            raise errors.InvalidArgument("Request validation failed", violations)
        if not request.events:
            return pb.CreateEventsResponse(stored=0, duplicates=0)

        headers = common.request_headers(context)
        receipt = common.receipt(scope, tenant, headers, self._settings, self._clock)
        forwarded = request_context(headers)
        records = [self._record(receipt, event, forwarded) for event in request.events]
        result = await self._writer.write(records)
        return pb.CreateEventsResponse(stored=result.stored, duplicates=result.duplicates)

    @staticmethod
    def _record(
        receipt: common.Receipt, event: pb.Event, forwarded: Mapping[str, str]
    ) -> EventRecord:
        payload = common.payload_of(event)
        if forwarded:
            payload[CONTEXT_KEY] = dict(forwarded)
        return receipt.record(
            common.enum_wire_name(pb.EventType.DESCRIPTOR.values_by_number[event.type]),
            payload,
            user_id=event.user_id,
            session_id=event.session_id,
            product_id=event.product_id,
            dedup_key=event.deduplication_id,
        )
