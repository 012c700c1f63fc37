"""What every servicer does the same way: clocks, call metadata, payloads, records.

Nothing here knows an API by name; the per-API rules live in the API's own module.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import orjson
from google.protobuf import descriptor, message, timestamp_pb2

from event_gateway import contract, errors
from event_gateway.config import Settings
from event_gateway.scope import CallScope
from event_gateway.storage.base import Catalog, EventRecord, EventWriter, RejectedRecord
from event_gateway.transcoding.codec import CodecOptions, MessageCodec, top_level_key

Clock = Callable[[], datetime]
M = TypeVar("M", bound=message.Message)


def utc_now() -> datetime:
    return datetime.now(UTC)


class MetadataContext(Protocol):
    """The part of grpc.aio.ServicerContext the servicers use (the REST side passes its own)."""

    def invocation_metadata(self) -> Sequence[tuple[str, str | bytes]] | None: ...


def request_headers(context: MetadataContext) -> dict[str, str]:
    """Invocation metadata as lower-case name -> first value; binary (-bin) entries skipped."""
    out: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        name = key.lower()
        if isinstance(value, str) and name not in out:
            out[name] = value
    return out


def principal_tenant(scope: CallScope) -> str:
    """The tenant that owns the caller's key: the only tenant an authenticated call may write for.

    A servicer of an authenticated API reached without a principal means the auth
    interceptor did not run: that is our bug, so fail closed rather than guess a tenant.
    """
    if scope.principal is None:
        raise errors.Internal("authenticated method called without a principal")
    return scope.principal.tenant


# --- payloads ------------------------------------------------------------------------------

# The REST codec's own options for the documented spellings: a stored payload reads
# exactly like the JSON the client sent (same names, same enum strings).
_PAYLOAD_CODEC = CodecOptions(enum_json_value=contract.enum_json_value)
_INT64_TYPES = {
    descriptor.FieldDescriptor.TYPE_INT64,
    descriptor.FieldDescriptor.TYPE_UINT64,
    descriptor.FieldDescriptor.TYPE_SINT64,
    descriptor.FieldDescriptor.TYPE_FIXED64,
    descriptor.FieldDescriptor.TYPE_SFIXED64,
}


def payload_of(msg: message.Message) -> dict[str, Any]:
    """The message as its documented JSON: json_name keys, documented enum spellings.

    Proto3 JSON writes 64-bit integers as strings; the documented APIs' clients send
    JSON numbers (`"product_id": 101`), so those are turned back into numbers.
    """
    return payload_encoder(msg.DESCRIPTOR)(msg)


def message_from_payload(cls: type[M], payload: dict[str, Any]) -> M:
    """The message of type `cls` that `payload_of` would write as `payload`."""
    codec = MessageCodec.for_descriptor(cls.DESCRIPTOR, _PAYLOAD_CODEC)
    return codec.decode_value(payload)  # type: ignore[return-value]


@functools.cache
def payload_encoder(desc: descriptor.Descriptor) -> Callable[[message.Message], dict[str, Any]]:
    """`payload_of` for one message type, looked up once: for loops over a batch's events."""
    encode: Callable[[message.Message], dict[str, Any]] = MessageCodec.for_descriptor(
        desc, _PAYLOAD_CODEC
    ).encode_value
    if not _has_int64(desc):
        return encode

    def encode_int64_as_numbers(msg: message.Message) -> dict[str, Any]:
        return _int64_as_numbers(desc, encode(msg))

    return encode_int64_as_numbers


@functools.cache
def _has_int64(desc: descriptor.Descriptor) -> bool:
    return any(
        f.type in _INT64_TYPES or (f.message_type is not None and _nested_int64(f.message_type))
        for f in desc.fields
    )


def _nested_int64(desc: descriptor.Descriptor) -> bool:
    if desc.full_name.startswith("google.protobuf."):
        return False  # well-known types have their own JSON forms
    return _has_int64(desc)


def _int64_as_numbers(desc: descriptor.Descriptor, raw: dict[str, Any]) -> dict[str, Any]:
    for field in desc.fields:
        value = raw.get(field.json_name)
        if value is None:
            continue
        if field.type in _INT64_TYPES:
            raw[field.json_name] = [int(v) for v in value] if field.is_repeated else int(value)
        elif field.message_type is not None and _nested_int64(field.message_type):
            items = value if field.is_repeated else [value]
            for item in items:
                if isinstance(item, dict):
                    _int64_as_numbers(field.message_type, item)
    return raw


_FREE_FORM = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


@functools.cache
def _free_form_fields(desc: descriptor.Descriptor) -> tuple[descriptor.FieldDescriptor, ...]:
    return tuple(
        f
        for f in desc.fields
        if f.message_type is not None and f.message_type.full_name in _FREE_FORM and not f.is_repeated
    )


def non_finite_fields(msg: message.Message) -> list[descriptor.FieldDescriptor]:
    """The free-form (Struct) fields of `msg` holding NaN or an infinity somewhere.

    A gRPC caller can put them in a Struct; JSON has no spelling for them, so such a
    payload could be neither stored nor exported. Callers refuse the field instead.
    """
    return [
        f
        for f in _free_form_fields(msg.DESCRIPTOR)
        if msg.HasField(f.name) and _holds_non_finite(getattr(msg, f.name))
    ]


def _holds_non_finite(value: Any) -> bool:
    name = value.DESCRIPTOR.full_name
    if name == "google.protobuf.Struct":
        return any(_holds_non_finite(v) for v in value.fields.values())
    if name == "google.protobuf.ListValue":
        return any(_holds_non_finite(v) for v in value.values)
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return not math.isfinite(value.number_value)
    if kind in ("struct_value", "list_value"):
        return _holds_non_finite(getattr(value, kind))
    return False


@functools.cache  # pure in the descriptor's options; called per stored event
def enum_wire_name(enum_value: descriptor.EnumValueDescriptor) -> str:
    """The documented string of an enum value (its proto name when none is declared)."""
    return contract.enum_json_value(enum_value) or enum_value.name


def enum_wire_names(enum: descriptor.EnumDescriptor) -> list[str]:
    """Every documented value of an enum, in declaration order, without the zero value."""
    return [enum_wire_name(v) for v in enum.values if v.number != 0]


def declared(enum: descriptor.EnumDescriptor, number: int) -> bool:
    """Whether `number` is a value the enum declares, other than its zero value.

    Enums are open in proto3: a gRPC caller may send any number, and REST callers may
    write numbers too (ProtoJSON), so an event's enum is checked against the
    declaration before it is named.
    """
    return number != 0 and number in enum.values_by_number


# --- time --------------------------------------------------------------------------------------

def timestamp_value(ts: timestamp_pb2.Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


# google.protobuf.Timestamp's documented range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799


def valid_timestamp(ts: timestamp_pb2.Timestamp) -> bool:
    """Within Timestamp's range, with nanos in [0, 1e9): a gRPC caller can send any two
    integers, which REST's RFC 3339 parsing never produces."""
    return _MIN_SECONDS <= ts.seconds <= _MAX_SECONDS and 0 <= ts.nanos < 1_000_000_000


_ISO_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_lenient_timestamp(text: str) -> datetime | None:
    """ISO 8601 with or without offset and fraction; naive means UTC; unreadable gives None.

    Beacons are written by many hands (date-only strings, "Z", a space instead of "T",
    nanoseconds); what cannot be read falls back to the server's time rather than failing.
    """
    candidate = text.strip()
    if not candidate:
        return None
    if candidate.endswith(("z", "Z")):
        candidate = candidate[:-1] + "+00:00"
    # fromisoformat reads at most microseconds.
    candidate = _ISO_FRACTION.sub(lambda m: m.group(1), candidate, count=1)
    try:
        parsed = datetime.fromisoformat(candidate)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: in UTC it leaves years 1..9999
        return None


# --- records ---------------------------------------------------------------------------------

# tuple.__new__ with the values in field order: the record without the generated
# __new__'s Python frame (see tests/ingest/test_common.py for the field order check).
_new_event: Callable[[type[EventRecord], tuple[Any, ...]], EventRecord] = tuple.__new__
# Longer de-duplication ids are stored as their digest: the unique index over them has a
# row limit (PostgreSQL refused a 2,700-character id, failing the whole group commit
# and every innocent caller in it, on every retry), and a digest keeps ids distinct.
MAX_DEDUP_KEY_CHARS = 128


def dedup_key_of(sent: str | None) -> str | None:
    """The stored de-duplication key for an id as sent: itself, or "sha256:<hex>" when
    it is long or holds a NUL (which PostgreSQL cannot store, and mending it into
    U+FFFD would make two distinct ids one)."""
    if not sent:
        return None
    if len(sent) <= MAX_DEDUP_KEY_CHARS and "\x00" not in sent:
        return sent
    return "sha256:" + hashlib.sha256(sent.encode("utf-8", "surrogatepass")).hexdigest()

@dataclass(frozen=True, slots=True)
class Receipt:
    """Facts about one call shared by every record it produces."""

    api: str
    tenant: str
    received_at: datetime
    client_ip: str | None
    user_agent: str | None
    future_tolerance: timedelta

    def record(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        occurred_at: datetime | None = None,
        visitor_id: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        product_id: str | None = None,
        dedup_key: str | None = None,
    ) -> EventRecord:
        # A client clock far ahead is flagged, never corrected: the client's claim is data.
        future = occurred_at is not None and occurred_at > self.received_at + self.future_tolerance
        # Positional, in field order: called per event, and keywords cost a dict per call.
        return _new_event(
            EventRecord,
            (
                self.api,
                self.tenant,
                event_type,
                self.received_at,
                payload,
                occurred_at,
                visitor_id or None,
                user_id or None,
                session_id or None,
                product_id or None,
                self.client_ip,
                self.user_agent,
                dedup_key_of(dedup_key),
                future,
            ),
        )

    def rejected(self, reason: str, payload: Mapping[str, Any]) -> RejectedRecord:
        return RejectedRecord(
            self.api, self.tenant, reason, self.received_at, payload, self.client_ip
        )


def receipt(
    scope: CallScope,
    tenant: str,
    headers: Mapping[str, str],
    settings: Settings,
    clock: Clock,
) -> Receipt:
    return Receipt(
        api=scope.method.api.name,
        tenant=tenant,
        received_at=clock(),
        client_ip=scope.client_ip or None,
        user_agent=headers.get("user-agent") or None,
        future_tolerance=timedelta(seconds=settings.future_tolerance),
    )


# --- batch elements the REST codec could not read ----------------------------------------------

# Where the transcoder describes them (TranscodingOptions.undecodable_elements_key), and
# the top-level fields it left out of a request (TranscodingOptions.undecodable_fields_key).
UNDECODABLE_ELEMENTS_KEY = "transcoding-undecodable-elements-bin"
UNDECODABLE_FIELDS_KEY = "transcoding-undecodable-fields-bin"


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A batch element sent with a value of the wrong JSON type (or shape): it arrives
    as an empty message at its index, described here."""

    field: str  # within the element ("" for the element itself)
    description: str
    payload: dict[str, Any]  # the element as sent, for quarantine
    reason: str = "invalid"  # the codec's: type, invalid, range, depth
    detail: str = ""  # the codec's words, without the field


_UNDECODABLE_WORDS = {"type": "has the wrong JSON type", "range": "is out of range"}


def undecodable_elements(context: MetadataContext) -> dict[int, Undecodable]:
    """The elements the transcoder could not decode, by index (none over gRPC, where a
    message cannot hold a value of the wrong type). A caller who sends the entry itself
    only marks its own events as unreadable; a malformed entry is ignored."""
    described = _described(context, UNDECODABLE_ELEMENTS_KEY)
    try:
        return {int(item["index"]): _undecodable(item, _element(item.get("value"))) for item in described}
    except (ValueError, TypeError, KeyError):
        return {}


def undecodable_fields(context: MetadataContext) -> list[Undecodable]:
    """The top-level fields the transcoder left out of the request because their values
    could not be decoded; each payload is {that field's JSON key: its value as sent}."""
    try:
        return [
            _undecodable(item, {_field_key(item): item.get("value")})
            for item in _described(context, UNDECODABLE_FIELDS_KEY)
        ]
    except (ValueError, TypeError, KeyError):
        return []


def _field_key(item: dict[str, Any]) -> str:
    key = top_level_key(str(item["path"]))
    if key is None:
        raise ValueError(f"no field in {item['path']!r}")
    return key


def _described(context: MetadataContext, entry: str) -> list[dict[str, Any]]:
    for key, value in context.invocation_metadata() or ():
        if key == entry and isinstance(value, bytes):
            try:
                items = orjson.loads(value)
            except ValueError:
                return []
            return items if isinstance(items, list) else []
    return []


def _element(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"_sent": value}


def _undecodable(item: dict[str, Any], payload: dict[str, Any]) -> Undecodable:
    field = str(item["path"])
    words = _UNDECODABLE_WORDS.get(item.get("reason"), "is not a valid value")  # type: ignore[arg-type]
    detail, reason = str(item.get("detail")), str(item.get("reason") or "invalid")
    description = f"{field or 'the event'} {words} ({detail})"
    return Undecodable(field, description, payload, reason, detail)


# --- validation --------------------------------------------------------------------------------

def describe(violations: Iterable[errors.FieldViolation]) -> str:
    """One line for a quarantined record's reason."""
    return "; ".join(f"{v.field}: {v.description}" for v in violations)


def missing(field: str, what: str | None = None) -> errors.FieldViolation:
    return errors.FieldViolation(field, f"{what or field} is required", "missing")


class Ingestor:
    """What every API's servicer is built from: where events go, the catalogue, settings, a clock."""

    def __init__(
        self, writer: EventWriter, catalog: Catalog, settings: Settings, clock: Clock = utc_now
    ) -> None:
        self._writer = writer
        self._catalog = catalog
        self._settings = settings
        self._clock = clock

    async def accepting_tenant(self, scope: CallScope) -> str:
        """The tenant of the caller's key, refused while the tenant is inactive
        (`tenants add --inactive`: "refuse its events for now"). PERMISSION_DENIED: the
        key is genuine, its tenant may not send; each API answers it as it answers a key
        it may not use. The catalogue keeps tenants cached, so this is a dict lookup."""
        tenant_id = principal_tenant(scope)
        tenant = await self._catalog.tenant_by_id(tenant_id)
        if tenant is None or not tenant.active:
            raise errors.PermissionDenied(
                "This API key's tenant is not accepting events.", reason="TENANT_INACTIVE"
            )
        return tenant_id
