"""API-key authentication: from call metadata to a Principal, or a precise refusal.

The credential is read from the places the API declares (a header, a query
parameter the transcoder copied into metadata under its own name, or a bearer
token). Its key id finds the record; its secret is compared in constant time with
the stored hash, and that comparison runs even when the id is unknown, so response
times do not tell valid ids from invalid ones. Secrets are never logged nor echoed.
A credential that proved genuine is found again by its BLAKE2b digest (never kept
itself) while the catalogue hands back the same key record, so it is not checked again.

Failed authentications are limited per client address with their own buckets, so
guessing costs the guesser and never the tenant whose key is being guessed: a client
over that limit is refused before its key is even looked up. Only failures touch the
store; a request with a valid key makes no store call here, so with Redis a request
costs one round trip, the throttle's.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable

from event_gateway import errors
from event_gateway.contract import ApiSpec, CredentialLocation, CredentialSpec
from event_gateway.policy import keys
from event_gateway.policy.rates import Rate, parse_rate
from event_gateway.policy.stores.base import Check, ThrottleStore
from event_gateway.policy.stores.memory import MemoryStore
from event_gateway.policy.throttle import retry_after_seconds
from event_gateway.scope import Principal
from event_gateway.storage.base import ApiKeyRecord, Catalog

logger = logging.getLogger(__name__)

Metadata = Iterable[tuple[str, str | bytes]]

_BEARER = CredentialLocation.CREDENTIAL_LOCATION_BEARER
# Compared against when the key id is unknown, so that path does the same work.
_DUMMY_HASH = keys.hash_secret("event-gateway: no such key")
# Bound of the per-address and per-key caches; cleared whole when reached.
_MAX_CACHED = 10_000


class Authenticator:
    def __init__(
        self,
        catalog: Catalog,
        *,
        failure_store: ThrottleStore | None = None,
        failure_rate: Rate | str = "30/minute",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`failure_rate` is `ThrottleSettings.auth_failures`; `failure_store` holds
        its buckets (a per-process MemoryStore unless one is given)."""
        self._catalog = catalog
        self._failures = failure_store if failure_store is not None else MemoryStore()
        self._failure_rate = (
            parse_rate(failure_rate) if isinstance(failure_rate, str) else failure_rate
        )
        self._clock = clock
        # Addresses whose failed-authentication bucket has no room, and until when, as
        # learnt from charging it. Refusing them from here, rather than asking the store
        # on every request, keeps a request with a valid key at no store call at all (one
        # Redis round trip per request, the throttle's). An address blocked by another
        # process is learnt on its next failure here, which the store then refuses.
        self._blocked: dict[str, float] = {}
        # Digest of each credential that proved genuine -> the record it matched and
        # its Principal: one Principal per record, so the Throttler may keep its
        # per-key work while it is handed the very same object.
        self._verified: dict[bytes, tuple[ApiKeyRecord, Principal]] = {}

    async def authenticate(self, api: ApiSpec, metadata: Metadata, client_ip: str) -> Principal:
        """The key's owner, or raises Unauthenticated / PermissionDenied / ResourceExhausted."""
        if self._blocked:
            self._refuse_if_blocked(client_ip)
        presented = credential(api.credentials, metadata)
        digest = b""
        if presented is not None:
            # A credential verified before is found by its digest, and stays good while
            # the catalogue hands back the very record it was verified against: a
            # revoked or changed key is seen as soon as the catalogue sees it, as
            # without this entry. Only the digest is kept, never the secret. BLAKE2b,
            # built into CPython, costs about half of OpenSSL's SHA-256 here (callgrind,
            # 2026-12-03); at 256 bits it is as hard to collide as SHA-256 was.
            digest = hashlib.blake2b(presented.encode(), digest_size=32).digest()
            known = self._verified.get(digest)
            if known is not None:
                record, principal = known
                if await self._catalog.api_key(record.key_id) is record and _may_call(record, api):
                    return principal
        try:
            record = await self._verify(presented)
        except errors.Unauthenticated:
            await self._charge_failure(client_ip)
            raise
        # Scope is checked after the key proved genuine: a wrong scope is not a guess.
        if not _may_call(record, api):
            raise errors.PermissionDenied(
                f"This API key may not call the {api.name} API.", reason="API_NOT_ALLOWED"
            )
        principal = Principal(
            key_id=record.key_id,
            tenant=record.tenant,
            name=record.name,
            limits=record.limits,
            apis=record.apis,
        )
        if len(self._verified) >= _MAX_CACHED:
            self._verified.clear()
        self._verified[digest] = (record, principal)
        return principal

    def _refuse_if_blocked(self, client_ip: str) -> None:
        until = self._blocked.get(client_ip)
        if until is None:
            return
        wait = until - self._clock()
        if wait > 0:
            raise _too_many_failures(wait)
        del self._blocked[client_ip]

    async def _charge_failure(self, client_ip: str) -> None:
        """Charge one failure to the address; refuse it when over, and remember when
        its bucket is left without room so that its next request is refused unverified."""
        charged = await self._failures.acquire([Check(f"rl:auth:failures:{{{client_ip}}}", self._failure_rate)])
        if not charged.allowed:
            self._block(client_ip, charged.retry_after)
            raise _too_many_failures(charged.retry_after) from None
        if charged.buckets and charged.buckets[0].remaining == 0:
            # GCRA: room for one more failure once the debt falls to burst - 1 intervals.
            interval = self._failure_rate.interval
            bucket = charged.buckets[0]
            self._block(client_ip, bucket.reset_after + interval - bucket.limit * interval)

    def _block(self, client_ip: str, seconds: float) -> None:
        if seconds <= 0:
            return
        now = self._clock()
        if len(self._blocked) >= _MAX_CACHED:
            self._blocked = {ip: until for ip, until in self._blocked.items() if until > now}
            if len(self._blocked) >= _MAX_CACHED:
                self._blocked.clear()
        self._blocked[client_ip] = now + seconds

    async def _verify(self, presented: str | None) -> ApiKeyRecord:
        if presented is None:
            raise errors.Unauthenticated("API key missing.", reason="CREDENTIALS_MISSING")
        parsed = keys.parse_key(presented)
        if parsed is None:
            raise _invalid()
        key_id, secret = parsed
        record = await self._catalog.api_key(key_id)
        matches = keys.secret_matches(secret, record.secret_hash if record else _DUMMY_HASH)
        if record is None or not matches:
            # The key id is not secret and helps an operator; the secret never appears.
            logger.info("authentication failed for key id %s", key_id)
            raise _invalid()
        if record.revoked:
            raise errors.Unauthenticated("API key revoked.", reason="KEY_REVOKED")
        return record


def credential(specs: Iterable[CredentialSpec], metadata: Metadata) -> str | None:
    """The first credential present, in the API's declared order, else None.

    A declared location that is present but malformed (``authorization: Basic …``)
    yields "" so that it is reported as invalid rather than missing.
    """
    if not isinstance(metadata, (tuple, list)):
        metadata = tuple(metadata)  # read once per declared location
    for spec in specs:
        value = _first_value(metadata, spec.key)
        if value is None:
            continue
        if spec.location == _BEARER:
            scheme, _, token = value.strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
        return value.strip()
    return None


def _first_value(metadata: Metadata, name: str) -> str | None:
    # Keys arrive lower case from both transports (HTTP/2 requires it of gRPC, ASGI of
    # HTTP header names), as does `name` (CredentialSpec.key), so they are compared as
    # they are. The first value of a repeated key wins.
    for key, value in metadata:
        if key == name and isinstance(value, str):
            return value
    return None


def _may_call(record: ApiKeyRecord, api: ApiSpec) -> bool:
    """The key's scope: the APIs it names, or every API when it names none."""
    return not record.apis or api.name in record.apis


def _invalid() -> errors.Unauthenticated:
    return errors.Unauthenticated("API key invalid.", reason="CREDENTIALS_INVALID")


def _too_many_failures(retry_after: float) -> errors.ResourceExhausted:
    return errors.ResourceExhausted(
        "Too many failed authentications from this address; retry later.",
        reason="RATE_LIMITED",
        retry_after=float(retry_after_seconds(retry_after)),
        quota_violations=[("auth_failures", "failed authentications per client address")],
    )
