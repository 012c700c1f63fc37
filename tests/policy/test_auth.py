from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from event_gateway import errors
from event_gateway.contract import ApiSpec, CredentialLocation, CredentialSpec, default_contract
from event_gateway.policy import keys
from event_gateway.policy.auth import Authenticator, credential
from event_gateway.policy.stores.memory import MemoryStore

from .fakes import FakeCatalog

CONTRACT = default_contract()
ALANA = CONTRACT.api("alana")  # x-api-key header or ?key=
DEPICT = CONTRACT.api("depict")  # ?api_key=
TOPSORT = CONTRACT.api("topsort")  # Authorization: Bearer


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog()


@pytest.fixture
def auth(catalog: FakeCatalog) -> Authenticator:
    return Authenticator(catalog, failure_store=MemoryStore(), failure_rate="3/minute")


async def refused(auth: Authenticator, api: ApiSpec, md: list[tuple[str, str]], ip: str = "1.1.1.1") -> errors.GatewayError:
    with pytest.raises(errors.GatewayError) as raised:
        await auth.authenticate(api, md, ip)
    return raised.value


@pytest.mark.parametrize(
    ("api", "make_metadata"),
    [
        (ALANA, lambda key: [("x-api-key", key)]),
        (ALANA, lambda key: [("key", key)]),
        (DEPICT, lambda key: [("api_key", key)]),
        (TOPSORT, lambda key: [("authorization", f"Bearer {key}")]),
        (TOPSORT, lambda key: [("authorization", f"bearer   {key} ")]),
    ],
)
async def test_valid_key_in_each_declared_place(
    auth: Authenticator, catalog: FakeCatalog, api: ApiSpec, make_metadata: object
) -> None:
    plaintext = catalog.add(tenant="acme", name="ci", limits={"per_key": "5/minute"})
    principal = await auth.authenticate(api, make_metadata(plaintext), "1.1.1.1")  # type: ignore[operator]
    assert principal.tenant == "acme" and principal.name == "ci"
    assert principal.key_id == keys.parse_key(plaintext)[0]  # type: ignore[index]
    assert principal.limits == {"per_key": "5/minute"}


async def test_missing(auth: Authenticator) -> None:
    err = await refused(auth, ALANA, [("user-agent", "x"), ("api_key", "egk_a_b")])  # wrong API's place
    assert isinstance(err, errors.Unauthenticated) and err.reason == "CREDENTIALS_MISSING"


@pytest.mark.parametrize("bad", ["nonsense", "egk_", "egk__secret", "xyz_abc_def", "egk_a-b_c"])
async def test_malformed(auth: Authenticator, catalog: FakeCatalog, bad: str) -> None:
    err = await refused(auth, ALANA, [("x-api-key", bad)])
    assert isinstance(err, errors.Unauthenticated) and err.reason == "CREDENTIALS_INVALID"
    assert catalog.lookups == 0


async def test_bearer_with_another_scheme_is_invalid_not_missing(auth: Authenticator) -> None:
    err = await refused(auth, TOPSORT, [("authorization", "Basic dXNlcjpwYXNz")])
    assert err.reason == "CREDENTIALS_INVALID"


async def test_unknown_key_id(auth: Authenticator, catalog: FakeCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[str] = []
    real = keys.secret_matches
    monkeypatch.setattr(keys, "secret_matches", lambda s, h: compared.append(h) or real(s, h))
    err = await refused(auth, ALANA, [("x-api-key", keys.generate_key().plaintext)])
    assert err.reason == "CREDENTIALS_INVALID"
    # The hash comparison ran anyway, so timing does not reveal which ids exist.
    assert len(compared) == 1


async def test_wrong_secret(auth: Authenticator, catalog: FakeCatalog) -> None:
    key_id = keys.parse_key(catalog.add())[0]  # type: ignore[index]
    wrong = f"egk_{key_id}_{keys.generate_key().plaintext.rsplit('_', 1)[1]}"
    err = await refused(auth, ALANA, [("x-api-key", wrong)])
    assert err.reason == "CREDENTIALS_INVALID"
    assert "egk_" not in err.message  # never echo the credential


async def test_revoked(auth: Authenticator, catalog: FakeCatalog) -> None:
    plaintext = catalog.add(revoked=True)
    err = await refused(auth, ALANA, [("x-api-key", plaintext)])
    assert isinstance(err, errors.Unauthenticated) and err.reason == "KEY_REVOKED"


async def test_revoked_with_a_wrong_secret_says_only_invalid(auth: Authenticator, catalog: FakeCatalog) -> None:
    key_id = keys.parse_key(catalog.add(revoked=True))[0]  # type: ignore[index]
    err = await refused(auth, ALANA, [("x-api-key", f"egk_{key_id}_guess")])
    assert err.reason == "CREDENTIALS_INVALID"


async def test_scope(auth: Authenticator, catalog: FakeCatalog) -> None:
    plaintext = catalog.add(apis=frozenset({"depict"}))
    err = await refused(auth, ALANA, [("x-api-key", plaintext)])
    assert isinstance(err, errors.PermissionDenied)
    assert (await auth.authenticate(DEPICT, [("api_key", plaintext)], "1.1.1.1")).tenant == "t1"


async def test_empty_scope_means_every_api(auth: Authenticator, catalog: FakeCatalog) -> None:
    plaintext = catalog.add()
    for api, md in [(ALANA, ("x-api-key", plaintext)), (DEPICT, ("api_key", plaintext))]:
        await auth.authenticate(api, [md], "1.1.1.1")


async def test_failures_are_limited_per_address_without_lookups(auth: Authenticator, catalog: FakeCatalog) -> None:
    plaintext = catalog.add()
    bad = [("x-api-key", f"egk_{keys.parse_key(plaintext)[0]}_guess")]  # type: ignore[index]
    for _ in range(3):
        assert isinstance(await refused(auth, ALANA, bad), errors.Unauthenticated)
    lookups = catalog.lookups
    err = await refused(auth, ALANA, bad)
    assert isinstance(err, errors.ResourceExhausted) and err.reason == "RATE_LIMITED"
    assert err.retry_after == 20.0
    # Refused up front: even a valid key is not looked up from this address for now.
    err = await refused(auth, ALANA, [("x-api-key", plaintext)])
    assert isinstance(err, errors.ResourceExhausted)
    assert catalog.lookups == lookups
    # Another address is unaffected.
    assert (await auth.authenticate(ALANA, [("x-api-key", plaintext)], "2.2.2.2")).tenant == "t1"


class CountingStore(MemoryStore):
    def __init__(self, clock: Any) -> None:
        super().__init__(clock=clock)
        self.calls = 0

    async def acquire(self, checks: Any, *, consume: bool = True) -> Any:
        self.calls += 1
        return await super().acquire(checks, consume=consume)


async def test_a_valid_key_costs_no_store_call_and_blocks_are_learnt_across_processes(catalog: FakeCatalog) -> None:
    now = [1000.0]
    shared = CountingStore(clock=lambda: now[0])  # one Redis, seen by two processes
    first, second = (
        Authenticator(catalog, failure_store=shared, failure_rate="3/minute", clock=lambda: now[0])
        for _ in range(2)
    )
    plaintext = catalog.add()
    bad = [("x-api-key", f"egk_{keys.parse_key(plaintext)[0]}_guess")]  # type: ignore[index]
    await first.authenticate(ALANA, [("x-api-key", plaintext)], "1.1.1.1")
    assert shared.calls == 0  # one store call per request is the throttle's, not ours
    for _ in range(3):
        assert isinstance(await refused(first, ALANA, bad), errors.Unauthenticated)
    # The other process has not seen this address fail: it verifies, the shared store refuses.
    err = await refused(second, ALANA, bad)
    assert isinstance(err, errors.ResourceExhausted) and err.retry_after == 20.0
    lookups = catalog.lookups
    for auth in (first, second):  # both now refuse the address before any lookup
        assert isinstance(await refused(auth, ALANA, [("x-api-key", plaintext)]), errors.ResourceExhausted)
    assert catalog.lookups == lookups
    now[0] += 20.0  # one failure's worth of room is back
    assert (await first.authenticate(ALANA, [("x-api-key", plaintext)], "1.1.1.1")).tenant == "t1"
    assert isinstance(await refused(first, ALANA, bad), errors.Unauthenticated)
    assert isinstance(await refused(first, ALANA, bad), errors.ResourceExhausted)


async def test_successes_cost_nothing_against_the_failure_limit(auth: Authenticator, catalog: FakeCatalog) -> None:
    plaintext = catalog.add()
    for _ in range(10):
        await auth.authenticate(ALANA, [("x-api-key", plaintext)], "1.1.1.1")


async def test_a_changed_key_record_is_seen_at_once(auth: Authenticator, catalog: FakeCatalog) -> None:
    key = catalog.add(limits={"per_key": "10/second"})
    first = await auth.authenticate(ALANA, [("x-api-key", key)], "1.1.1.1")
    assert await auth.authenticate(ALANA, [("x-api-key", key)], "1.1.1.1") is first  # reused
    key_id = first.key_id
    catalog.records[key_id] = replace(catalog.records[key_id], limits={"per_key": "20/second"})
    changed = await auth.authenticate(ALANA, [("x-api-key", key)], "1.1.1.1")
    assert changed.limits == {"per_key": "20/second"}
    catalog.records[key_id] = replace(catalog.records[key_id], revoked=True)
    assert (await refused(auth, ALANA, [("x-api-key", key)])).reason == "KEY_REVOKED"


async def test_a_verified_credential_is_not_hashed_again_and_nothing_else_rides_on_it(
    auth: Authenticator, catalog: FakeCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = catalog.add()
    comparisons = []
    real = keys.secret_matches
    monkeypatch.setattr(keys, "secret_matches", lambda *a: comparisons.append(1) or real(*a))
    for _ in range(3):
        await auth.authenticate(ALANA, [("x-api-key", key)], "1.1.1.1")
    assert len(comparisons) == 1
    # The same key id with another secret is a different credential: verified afresh, refused.
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert (await refused(auth, ALANA, [("x-api-key", forged)])).reason == "CREDENTIALS_INVALID"
    assert len(comparisons) == 2


def test_credential_prefers_the_declared_order() -> None:
    md = [("key", "from-query"), ("x-api-key", "from-header")]
    assert credential(ALANA.credentials, md) == "from-header"
    # Metadata keys are lower case on both transports; a declared name is matched by its
    # lower-cased key.
    spec = CredentialSpec(CredentialLocation.CREDENTIAL_LOCATION_HEADER, "X-Api-Key")
    assert credential([spec], [("x-api-key", "lower")]) == "lower"
    assert credential(ALANA.credentials, [("x-api-key-bin", b"\x00")]) is None
