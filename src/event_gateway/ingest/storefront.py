"""Storefront analytics: public endpoints of a multi-tenant catalogue.

Three methods with three different attitudes to failure, all documented:
- Track answers 422 for bad fields and 404 for a tenant that is not public;
- Conversion is a beacon: it always answers 200, "ok" only when the event was stored;
- RecordInteraction never tells whether a tenant exists (202 for an unknown one).
The tenant always comes from the catalogue (public API: there is no principal).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

from google.protobuf.descriptor import EnumDescriptor
from storefront.v1 import analytics_pb2 as pb
from storefront.v1 import analytics_pb2_grpc as pb_grpc

from event_gateway import errors
from event_gateway.dialects import laravel_input
from event_gateway.ingest import common
from event_gateway.scope import current_scope
from event_gateway.storage.base import Tenant
from event_gateway.transcoding.codec import top_level_key

log = logging.getLogger(__name__)

TENANT_UNAVAILABLE = "Tenant not found or not available"
TRACK_ACCEPTED = "Event accepted for processing"

CONVERSION_DEFAULT_CURRENCY = "HNL"
CONVERSION_DEFAULT_EVENT = common.enum_wire_name(
    pb.InteractionType.DESCRIPTOR.values_by_number[pb.INTERACTION_TYPE_PURCHASE]
)
_INTERACTION_TYPES = {
    common.enum_wire_name(v): v.number
    for v in pb.InteractionType.DESCRIPTOR.values
    if v.number != 0
}


class ResponseContext(common.MetadataContext, Protocol):
    def set_trailing_metadata(self, trailing_metadata: Any) -> None: ...
    def trailing_metadata(self) -> Any: ...


def answer_with_http_status(context: ResponseContext, status: int) -> None:
    """grpc-gateway's convention: x-http-code in the response metadata overrides the REST status.

    Trailing metadata costs nothing extra on gRPC. set_trailing_metadata replaces, so
    what interceptors put there before (rate-limit counters) is kept.
    """
    kept = tuple(context.trailing_metadata() or ())
    context.set_trailing_metadata((*kept, ("x-http-code", str(status))))


def _public(tenant: Tenant | None) -> Tenant | None:
    return tenant if tenant is not None and tenant.active else None


def _required(field: str) -> errors.FieldViolation:
    # Laravel's words, which the REST answer uses too, so gRPC callers read the same.
    return errors.FieldViolation(field, f"The {field.replace('_', ' ')} field is required.", "missing")


def _type_violations(enum: EnumDescriptor, number: int) -> list[errors.FieldViolation]:
    """Laravel's `required|in:...` on `type`. REST reads the field strictly (an unknown
    string is refused while decoding), so zero here means it was not sent; a number
    the enum does not declare can only come from a gRPC caller."""
    if number == 0:
        return [_required("type")]
    if not common.declared(enum, number):
        return [errors.FieldViolation("type", "The selected type is invalid.", "invalid")]
    return []


def _unreadable_violations(unreadable: list[common.Undecodable]) -> list[errors.FieldViolation]:
    """The fields the transcoder left out because it could not read them (REST only,
    `undecodable_fields`), reported with the codec's reason: the dialect words them as
    Laravel's rules do ("The product id field must be an integer.")."""
    return [errors.FieldViolation(u.field, u.description, u.reason) for u in unreadable]


def _as_validator_reports(
    message: Any, unreadable: list[errors.FieldViolation], checked: list[errors.FieldViolation]
) -> list[errors.FieldViolation]:
    """Laravel's validator: every failed field, once, in the order of its rules (the
    request's fields). A field that could not be read is reported as such, not as the
    missing value it left behind."""
    by_field: dict[str, errors.FieldViolation] = {}
    for violation in (*unreadable, *checked):
        by_field.setdefault(top_level_key(violation.field) or "", violation)
    order = {f.json_name: f.index for f in message.DESCRIPTOR.fields}
    return sorted(by_field.values(), key=lambda v: order.get(top_level_key(v.field) or "", len(order)))


def _finite_violations(request: Any) -> list[errors.FieldViolation]:
    """NaN or an infinity in metadata (gRPC callers only: JSON cannot spell them)."""
    return [
        errors.FieldViolation(
            f.json_name, f"The {f.json_name} field must not contain NaN or Infinity.", "finite"
        )
        for f in common.non_finite_fields(request)
    ]


def _as_laravel_reads(request: common.M) -> common.M:
    """The request as Laravel's input middleware hands it to the controller (strings
    trimmed, empty ones null; see laravel_input). REST bodies were cleaned so while
    decoding; gRPC callers get the same, so both transports decide alike. Cleaning
    twice changes nothing, and an unchanged request is returned as it is."""
    try:
        sent = common.payload_of(request)
    except ValueError:
        # NaN or an infinity in metadata has no JSON form; the request is refused for it.
        return request
    cleaned = laravel_input.clean(sent)
    if cleaned == sent:
        return request
    return common.message_from_payload(type(request), cleaned)


def _wire(enum: Any, number: int) -> str:
    return common.enum_wire_name(enum.DESCRIPTOR.values_by_number[number])


class StorefrontAnalyticsServicer(common.Ingestor, pb_grpc.StorefrontAnalyticsServiceServicer):
    # --- POST /api/v1/analytics/track ---------------------------------------------------------

    async def Track(  # noqa: N802
        self, request: pb.TrackRequest, context: common.MetadataContext
    ) -> pb.TrackResponse:
        request = _as_laravel_reads(request)
        checked = []
        if not request.tenant_id:
            checked.append(_required("tenant_id"))
        checked += _type_violations(pb.InteractionType.DESCRIPTOR, request.type)
        checked += _finite_violations(request)
        unreadable = _unreadable_violations(common.undecodable_fields(context))
        violations = _as_validator_reports(request, unreadable, checked)
        if violations:
            raise errors.InvalidArgument("The given data was invalid.", violations)

        tenant = _public(await self._catalog.tenant_by_id(request.tenant_id))
        if tenant is None:
            raise errors.NotFound(TENANT_UNAVAILABLE, reason="TENANT_NOT_FOUND")
        if request.HasField("product_id") and not await self._catalog.product_exists(
            tenant.id, request.product_id
        ):
            # Checked against the tenant's own products, so one tenant's events can
            # never be attributed to another tenant's product.
            raise errors.InvalidArgument(
                "The selected product id is invalid.",
                [errors.FieldViolation("product_id", "The selected product id is invalid.", "not_found")],
            )

        scope = current_scope()
        receipt = common.receipt(
            scope, tenant.id, common.request_headers(context), self._settings, self._clock
        )
        payload = common.payload_of(request)
        product_id = str(request.product_id) if request.HasField("product_id") else None
        if product_id is not None:
            # Documented: the product id is also merged into metadata.
            payload["metadata"] = {**payload.get("metadata", {}), "product_id": request.product_id}
        record = receipt.record(
            _wire(pb.InteractionType, request.type), payload, product_id=product_id
        )
        await self._writer.write([record])
        return pb.TrackResponse(success=True, message=TRACK_ACCEPTED)

    # --- POST /api/v1/analytics/conversion (beacon) -------------------------------------------

    async def Conversion(  # noqa: N802
        self, request: pb.ConversionRequest, context: common.MetadataContext
    ) -> pb.ConversionResponse:
        request = _as_laravel_reads(request)
        response = pb.ConversionResponse(status="skipped")
        unreadable = common.undecodable_fields(context)
        if request.HasField("transaction_id"):
            response.transaction_id = request.transaction_id
        else:
            # Echoed even when sent as a number: the caller matches answers by it.
            sent = [u.payload["transaction_id"] for u in unreadable if "transaction_id" in u.payload]
            if sent and isinstance(sent[0], (str, int, float)) and not isinstance(sent[0], bool):
                response.transaction_id = str(sent[0])
        try:
            if await self._store_conversion(request, context, unreadable):
                response.status = "ok"
        except Exception:  # noqa: BLE001
            # A beacon's caller cannot act on a failure, and the page must not be
            # disturbed: log it, answer "skipped" (never a false "ok").
            log.warning("conversion beacon not stored", exc_info=True)
        return response

    async def _store_conversion(
        self,
        request: pb.ConversionRequest,
        context: common.MetadataContext,
        unreadable: list[common.Undecodable],
    ) -> bool:
        """True when the conversion is stored (or was already stored under its transaction id).

        A beacon that names no public tenant, or whose values could not be read over
        REST (`unreadable`), is quarantined with the reason and its values as sent, so a
        storefront can find out why its sales are not counted.
        """
        tenant = None
        if request.tenant_slug:
            tenant = _public(await self._catalog.tenant_by_slug(request.tenant_slug))
        receipt = self._receipt(tenant, context)
        payload = common.payload_of(request)
        for field in unreadable:
            payload.update(field.payload)
        if tenant is None:
            reason = "tenant_slug: unknown tenant" if request.tenant_slug else "tenant_slug: missing"
            await self._writer.write([], [receipt.rejected(reason, payload)])
            return False
        if unreadable:
            reason = "; ".join(field.description for field in unreadable)
            await self._writer.write([], [receipt.rejected(reason, payload)])
            return False
        event = request.event or CONVERSION_DEFAULT_EVENT
        if event not in _INTERACTION_TYPES:
            # Kept for inspection rather than stored under an event type nobody declared.
            await self._writer.write(
                [], [receipt.rejected(f"event: unknown interaction type {event!r}", payload)]
            )
            return False
        if not math.isfinite(request.value):
            # NaN or an infinity (gRPC, or the ProtoJSON strings "NaN"/"Infinity" over
            # REST) would corrupt every sales total it is added to.
            await self._writer.write([], [receipt.rejected("value: not a finite number", payload)])
            return False
        # The documented defaults are written into the stored payload, so readers need
        # not know them.
        payload.setdefault("value", 0.0)
        payload.setdefault("currency", CONVERSION_DEFAULT_CURRENCY)
        payload["event"] = event
        # Documented: "Defaults to server time when omitted" (and when unreadable).
        occurred_at = (
            common.parse_lenient_timestamp(request.timestamp) if request.HasField("timestamp") else None
        ) or receipt.received_at
        record = receipt.record(
            event,
            payload,
            occurred_at=occurred_at,
            # A beacon is often fired twice (reload of the thank-you page): one
            # transaction is one conversion per tenant.
            dedup_key=request.transaction_id if request.HasField("transaction_id") else None,
        )
        await self._writer.write([record])
        return True

    def _receipt(self, tenant: Tenant | None, context: common.MetadataContext) -> common.Receipt:
        """The receipt for an event of `tenant`, or of no tenant (it goes to quarantine)."""
        return common.receipt(
            current_scope(),
            tenant.id if tenant else "",
            common.request_headers(context),
            self._settings,
            self._clock,
        )

    # --- POST /api/v1/interactions ------------------------------------------------------------

    async def RecordInteraction(  # noqa: N802
        self, request: pb.RecordInteractionRequest, context: ResponseContext
    ) -> pb.RecordInteractionResponse:
        request = _as_laravel_reads(request)
        checked = []
        if not request.HasField("tenant_id"):
            checked.append(_required("tenant_id"))
        checked += _type_violations(pb.InteractionKind.DESCRIPTOR, request.type)
        checked += _finite_violations(request)
        unreadable = _unreadable_violations(common.undecodable_fields(context))
        violations = _as_validator_reports(request, unreadable, checked)
        if violations:
            raise errors.InvalidArgument("The given data was invalid.", violations)

        try:
            # Both outcomes do the same work - one lookup, one single-row write - so that
            # neither the body nor the time taken tells an unknown tenant from a known one.
            # The event for an unknown tenant is quarantined, not dropped.
            found = await self._catalog.tenant_by_number(request.tenant_id)
            tenant = _public(found)
            receipt = self._receipt(tenant, context)
            payload = common.payload_of(request)
            if tenant is None:
                # Told apart for the operator only; the caller's answer is the same.
                reason = "tenant_id: inactive tenant" if found is not None else "tenant_id: unknown tenant"
                await self._writer.write([], [receipt.rejected(reason, payload)])
            else:
                record = receipt.record(
                    _wire(pb.InteractionKind, request.type),
                    payload,
                    product_id=str(request.product_id) if request.HasField("product_id") else None,
                )
                await self._writer.write([record])
                return pb.RecordInteractionResponse(status="success")
        except errors.GatewayError:
            # Documented: a processing error (the catalogue or the store unreachable) is
            # answered 202 like an unknown tenant. Nothing was stored, and the client was
            # not told "success".
            log.warning("interaction not stored", exc_info=True)
        answer_with_http_status(context, 202)
        return pb.RecordInteractionResponse(status="accepted")
