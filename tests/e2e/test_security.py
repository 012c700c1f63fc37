"""Security review checks (docs/security.md), each against a real gateway process.

Nothing here is timed: the enumeration timing is measured by scripts/enumeration_timing.py
and reported in docs/security.md, never asserted on this shared machine.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from alana.v1 import shopper_events_pb2 as alana_pb
from alana.v1 import shopper_events_pb2_grpc as alana_grpc
from depict.v1 import events_pb2 as depict_pb
from depict.v1 import events_pb2_grpc as depict_grpc
from tests.e2e.conftest import new_database
from tests.e2e.grpc_client import channel
from tests.e2e.harness import Gateway, cli, count_events, create_key, create_tenant
from topsort.v2 import events_pb2 as topsort_pb
from topsort.v2 import events_pb2_grpc as topsort_grpc

MAX_BODY = 4096
ADMIN_ORIGIN = "https://admin.example"
SHOP_ORIGIN = "https://shop.example"
EVIL_ORIGIN = "https://evil.example"
GENEROUS = ("--limit", "per_key=100000/minute", "--limit", "per_key_ip=100000/minute")
ENV = {
    "EVENT_GATEWAY_THROTTLE__LIMITS": '{"storefront": {"api": "100000/minute", "tenant_aware": "100000/minute"}}',
    # The log test sends dozens of wrong keys on purpose.
    "EVENT_GATEWAY_THROTTLE__AUTH_FAILURES": "100000/minute",
    "EVENT_GATEWAY_MAX_BODY_BYTES": str(MAX_BODY),
    "EVENT_GATEWAY_CORS__ORIGINS": json.dumps([ADMIN_ORIGIN]),
    "EVENT_GATEWAY_CORS__PUBLIC_ORIGINS": json.dumps([SHOP_ORIGIN]),
}


def _topsort_click(event_id: str) -> dict:
    return {"clicks": [{"id": event_id, "occurredAt": "2019-01-01T13:01:42-05:00",
                        "opaqueUserId": "71303ce0-de89-496d-8270-6434589615e8",
                        "placement": {"path": "/categories/dairy"}}]}


def secret_of(key: str) -> str:
    """The secret part of `egk_<key id>_<secret>` (the key id has no underscore)."""
    return key.split("_", 2)[2]


@dataclass(frozen=True)
class Site:
    gateway: Gateway
    database: str
    db_file: Path
    key: str  # acme, every API
    alana_key: str  # acme, `--api alana`
    other_key: str  # globex
    logs: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("security")
    with new_database("sqlite", directory) as database:
        create_tenant(database, "acme", "acme-store", 1)
        create_tenant(database, "globex", "globex-store", 2)
        create_tenant(database, "dormant", "dormant-store", 3, "--inactive")
        key = create_key(database, "acme", "--name", "all", *GENEROUS)
        alana_key = create_key(database, "acme", "--name", "alana-only", "--api", "alana", *GENEROUS)
        other_key = create_key(database, "globex", "--name", "globex", *GENEROUS)
        gateway = Gateway(database, extra_args=["--log-json"], env=ENV)
        gateway.start(directory)
        try:
            yield Site(gateway, database, directory / "events.db", key, alana_key, other_key, directory)
        finally:
            gateway.stop()


# --- 1. keys hashed at rest -----------------------------------------------------------------


def _assert_hashed(rows: list[tuple[str, str]], keys: list[str], raw: bytes) -> None:
    by_id = dict(rows)
    for key in keys:
        key_id = key.split("_", 2)[1]
        assert by_id[key_id] == hashlib.sha256(secret_of(key).encode()).hexdigest()
        assert secret_of(key).encode() not in raw
        assert key.encode() not in raw


def test_sqlite_stores_only_a_hash_of_each_secret(site: Site) -> None:
    # Use the keys first, so the database has seen every path that touches them.
    for key in (site.key, site.alana_key, site.other_key):
        response = httpx.post(
            f"{site.gateway.base_url}/api/v1/events", headers={"x-api-key": key}, json={"events": []}
        )
        assert response.status_code == 200, response.text
    with sqlite3.connect(site.db_file) as conn:
        rows = conn.execute("SELECT key_id, secret_hash FROM api_keys").fetchall()
        dump = "\n".join(conn.iterdump()).encode()
    raw = b"".join(p.read_bytes() for p in site.db_file.parent.glob("events.db*"))
    assert len(rows) == 3
    _assert_hashed(rows, [site.key, site.alana_key, site.other_key], raw + dump)


def test_postgres_stores_only_a_hash_of_each_secret(tmp_path: Path) -> None:
    with new_database("postgres", tmp_path) as database:
        create_tenant(database, "acme", "acme-store", 1)
        key = create_key(database, "acme")

        async def read() -> tuple[list[tuple[str, str]], bytes]:
            import asyncpg

            conn = await asyncpg.connect(database.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                rows = await conn.fetch("SELECT key_id, secret_hash FROM api_keys")
                whole = await conn.fetch("SELECT row_to_json(k)::text AS j FROM api_keys k")
            finally:
                await conn.close()
            return [(r["key_id"], r["secret_hash"]) for r in rows], "".join(r["j"] for r in whole).encode()

        rows, raw = asyncio.run(read())
    _assert_hashed(rows, [key], raw)


async def test_unknown_key_id_still_hashes_and_compares(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unknown-id path does the same constant-time comparison as a wrong secret."""
    from event_gateway.contract import default_contract
    from event_gateway.policy import auth, keys

    calls: list[str] = []
    real = keys.secret_matches

    def spy(secret: str, secret_hash: str) -> bool:
        calls.append(secret)
        return real(secret, secret_hash)

    monkeypatch.setattr(keys, "secret_matches", spy)

    class NoKeys:
        async def api_key(self, key_id: str) -> None:
            return None

    api = default_contract().method("/alana.v1.ShopperEventsService/TrackEvents").api  # type: ignore[union-attr]
    authenticator = auth.Authenticator(NoKeys())  # type: ignore[arg-type]
    with pytest.raises(auth.errors.Unauthenticated):
        await authenticator.authenticate(api, [("x-api-key", "egk_nosuchid_guessedsecret")], "198.51.100.1")
    assert calls == ["guessedsecret"]


# --- 2. secrets never logged ------------------------------------------------------------------


def _wrong_keys(site: Site) -> list[str]:
    key_id = site.key.split("_", 2)[1]
    return [
        f"egk_{key_id}_WrongSecretForRealId{uuid.uuid4().hex}",
        f"egk_nosuchkeyid_UnknownIdSecret{uuid.uuid4().hex}",
        f"not-a-key-GarbageSecret{uuid.uuid4().hex}",
    ]


def _exercise_every_credential_place(gateway: Gateway, good: str, wrong: list[str]) -> None:
    base = gateway.base_url
    alana = {"events": [{"eventType": "search", "visitorId": "v", "query": "q"}]}
    depict = [{"tenant": "acme", "market": "se", "type": "page_view"}]
    topsort = _topsort_click(str(uuid.uuid4()))
    seen: set[int] = set()
    with httpx.Client(base_url=base, timeout=30) as client:
        for key in [good, *wrong]:
            for response in (
                client.post("/api/v1/events", headers={"x-api-key": key}, json=alana),
                client.post("/api/v1/events", params={"key": key}, json=alana),
                client.post("/api/v1/events", params={"api_key": key}, json=alana),
                client.post("/create-events", params={"api_key": key}, json=depict),
                client.post("/v2/events", headers={"Authorization": f"Bearer {key}"}, json=topsort),
                # Failure after authentication: a body the servicer refuses.
                client.post("/create-events", params={"api_key": key}, json=[{"market": "se"}]),
                client.post("/api/v1/events", headers={"x-api-key": key}, content=b"{not json"),
            ):
                seen.add(response.status_code)
                assert key not in response.text and secret_of(key) not in response.text if key.startswith("egk_") else True
    assert {200, 204, 401, 422} <= seen, seen

    async def over_grpc() -> None:
        async with channel(gateway.grpc_target) as ch:
            alana_stub = alana_grpc.ShopperEventsServiceStub(ch)
            depict_stub = depict_grpc.DepictEventsServiceStub(ch)
            topsort_stub = topsort_grpc.TopsortEventsServiceStub(ch)
            search = alana_pb.TrackEventsRequest(
                events=[alana_pb.Event(event_type=alana_pb.EVENT_TYPE_SEARCH, visitor_id="v", query="q")]
            )
            page = depict_pb.CreateEventsRequest(
                events=[depict_pb.Event(tenant="acme", market="se", type=depict_pb.EVENT_TYPE_PAGE_VIEW)]
            )
            view = topsort_pb.ReportEventsRequest(
                pageviews=[topsort_pb.PageView(id=str(uuid.uuid4()), opaque_user_id="u", page=topsort_pb.Page(type="home", page_id="/"),
                                               occurred_at=Timestamp(seconds=1546365702))]
            )
            for key in [good, *wrong]:
                calls = [
                    alana_stub.TrackEvents(search, metadata=(("x-api-key", key),)),
                    alana_stub.TrackEvents(search, metadata=(("key", key),)),
                    depict_stub.CreateEvents(page, metadata=(("api_key", key),)),
                    topsort_stub.ReportEvents(view, metadata=(("authorization", f"Bearer {key}"),)),
                ]
                for call in calls:
                    try:
                        await call
                    except grpc.aio.AioRpcError as error:
                        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                        assert key not in (error.details() or "")

    asyncio.run(over_grpc())


def _assert_no_secret(text: str, keys: list[str]) -> None:
    for key in keys:
        assert key not in text
        if key.startswith("egk_"):
            assert secret_of(key) not in text
        else:
            assert key.split("-")[-1] not in text


def test_keys_and_tokens_never_reach_the_log(site: Site, tmp_path: Path) -> None:
    wrong = _wrong_keys(site)
    _exercise_every_credential_place(site.gateway, site.key, wrong)
    # A second gateway on the same database, plain text at debug level: the most talkative.
    plain = Gateway(site.database, extra_args=["--log-level", "debug"], env=ENV)
    plain.start(tmp_path)
    try:
        plain_wrong = _wrong_keys(site)
        _exercise_every_credential_place(plain, site.key, plain_wrong)
    finally:
        plain.stop()
    assert site.gateway.log_path is not None and plain.log_path is not None
    json_log = site.gateway.log_path.read_text()
    plain_log = plain.log_path.read_text()
    # The lines were written (else the test proves nothing) and name the refused key id only.
    assert '"code":"UNAUTHENTICATED"' in json_log and "code=UNAUTHENTICATED" in plain_log
    assert "authentication failed for key id nosuchkeyid" in json_log
    for text in (json_log, plain_log):
        _assert_no_secret(text, [site.key, *wrong, *plain_wrong])
        _assert_no_secret(text, [site.alana_key, site.other_key])


def test_admin_commands_never_print_secrets(site: Site) -> None:
    listing = cli(site.database, "keys", "list")
    assert listing.stdout.count("\n") == 3
    _assert_no_secret(listing.stdout + listing.stderr, [site.key, site.alana_key, site.other_key])
    for key in (site.key, site.alana_key, site.other_key):
        assert key.split("_", 2)[1] in listing.stdout  # the key id is shown; it is not secret
    dsn_password = "Pg-Passw0rd-" + uuid.uuid4().hex
    redis_password = "Redis-Passw0rd-" + uuid.uuid4().hex
    shown = cli(
        f"postgresql+asyncpg://app:{dsn_password}@db.internal/events",
        "config", "show", "--redis-url", f"redis://:{redis_password}@redis.internal:6379/0",
    )
    assert dsn_password not in shown.stdout + shown.stderr
    assert redis_password not in shown.stdout + shown.stderr
    assert "db.internal" in shown.stdout or "***" in shown.stdout


def test_metrics_carry_no_key_material(site: Site) -> None:
    httpx.post(f"{site.gateway.base_url}/api/v1/events", headers={"x-api-key": site.key}, json={"events": []})
    httpx.post(f"{site.gateway.base_url}/api/v1/events", headers={"x-api-key": "egk_probeid_probesecret"}, json={"events": []})
    text = httpx.get(f"{site.gateway.base_url}/metrics").text
    assert "auth_failures_total" in text
    for key in (site.key, site.alana_key, site.other_key):
        assert key.split("_", 2)[1] not in text and secret_of(key) not in text
    assert "probeid" not in text and "probesecret" not in text
    assert "acme" not in text and "globex" not in text  # no tenant label either


# --- 3. tenant isolation -----------------------------------------------------------------------


def test_a_key_writes_only_for_its_own_tenant_whatever_the_body_says(site: Site) -> None:
    db = site.database
    globex_before = count_events(db, "--tenant", "globex")
    acme_before = count_events(db, "--tenant", "acme")
    marker = uuid.uuid4().hex
    base = site.gateway.base_url
    responses = [
        httpx.post(f"{base}/create-events", params={"api_key": site.key},
                   json=[{"tenant": "globex", "market": "se", "type": "click", "deduplication_id": marker}]),
        httpx.post(f"{base}/api/v1/events", headers={"x-api-key": site.key},
                   json={"events": [{"eventType": "search", "visitorId": marker, "query": "q",
                                     "metadata": {"tenant": "globex", "tenant_id": "globex"}}]}),
        httpx.post(f"{base}/v2/events", headers={"Authorization": f"Bearer {site.key}"},
                   json=_topsort_click(marker)),
    ]
    assert [r.status_code for r in responses] == [200, 200, 204], [r.text for r in responses]

    async def over_grpc() -> None:
        async with channel(site.gateway.grpc_target) as ch:
            stub = depict_grpc.DepictEventsServiceStub(ch)
            request = depict_pb.CreateEventsRequest(
                events=[depict_pb.Event(tenant="globex", market="se", type=depict_pb.EVENT_TYPE_CLICK, deduplication_id=marker + "g")]
            )
            await stub.CreateEvents(request, metadata=(("api_key", site.key),))

    asyncio.run(over_grpc())
    assert count_events(db, "--tenant", "globex") == globex_before
    assert count_events(db, "--tenant", "acme") == acme_before + 4
    exported = [json.loads(line) for line in cli(db, "events", "export", "--tenant", "globex").stdout.splitlines()]
    assert not any(marker in json.dumps(record) for record in exported)
    mine = [json.loads(line) for line in cli(db, "events", "export", "--tenant", "acme").stdout.splitlines()]
    claimed = [r for r in mine if marker in json.dumps(r)]
    assert len(claimed) == 4 and {r["tenant"] for r in claimed} == {"acme"}


def test_a_key_scoped_to_one_api_cannot_call_the_others(site: Site) -> None:
    base = site.gateway.base_url
    alana = httpx.post(f"{base}/api/v1/events", headers={"x-api-key": site.alana_key}, json={"events": []})
    depict = httpx.post(f"{base}/create-events", params={"api_key": site.alana_key},
                        json=[{"tenant": "acme", "market": "se", "type": "page_view"}])
    topsort = httpx.post(f"{base}/v2/events", headers={"Authorization": f"Bearer {site.alana_key}"},
                         json=_topsort_click(str(uuid.uuid4())))
    assert alana.status_code == 200
    assert (depict.status_code, depict.json()) == (401, {"detail": "Invalid API key"})
    assert topsort.status_code == 401 and topsort.json()[0]["errCode"] == "invalid_api_key"

    async def over_grpc() -> grpc.StatusCode:
        async with channel(site.gateway.grpc_target) as ch:
            stub = depict_grpc.DepictEventsServiceStub(ch)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.CreateEvents(depict_pb.CreateEventsRequest(), metadata=(("api_key", site.alana_key),))
            return caught.value.code()

    assert asyncio.run(over_grpc()) == grpc.StatusCode.PERMISSION_DENIED


# --- 4. tenant enumeration through /api/v1/interactions -------------------------------------

_COUNTERS = {"date", "x-ratelimit-remaining", "ratelimit"}


def _interaction(base: str, tenant: int) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/interactions", json={"tenant_id": tenant, "type": "view"})


def _comparable(response: httpx.Response, *, ignore: set[str] = _COUNTERS) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in ignore)
    return response.status_code, response.content, headers


def test_unknown_and_inactive_tenants_are_answered_identically(site: Site) -> None:
    base = site.gateway.base_url
    rejected_before = count_events(site.database, "--rejected")
    unknown, inactive = _interaction(base, 987654), _interaction(base, 3)
    known = _interaction(base, 1)
    assert _comparable(unknown) == _comparable(inactive)
    assert (unknown.status_code, unknown.json()) == (202, {"status": "accepted"})
    # The known tenant differs only where the documentation says it does: status and body.
    assert (known.status_code, known.json()) == (201, {"status": "success"})
    assert [k for k, _ in _comparable(known)[2]] == [k for k, _ in _comparable(unknown)[2]]
    assert _comparable(known, ignore=_COUNTERS | {"content-length"})[2] == _comparable(unknown, ignore=_COUNTERS | {"content-length"})[2]
    # Same work on both paths: the unknown and inactive ones are quarantined, one row each.
    assert count_events(site.database, "--rejected") == rejected_before + 2


def test_a_processing_failure_is_answered_like_an_unknown_tenant(tmp_path: Path) -> None:
    with new_database("sqlite", tmp_path) as database:
        create_tenant(database, "acme", "acme-store", 1)
        gateway = Gateway(database, env=ENV)
        gateway.start(tmp_path)
        try:
            assert _interaction(gateway.base_url, 1).status_code == 201
            # Break the store under the running gateway: the events table disappears.
            with sqlite3.connect(tmp_path / "events.db") as conn:
                conn.execute("ALTER TABLE events RENAME TO events_gone")
            failed = _interaction(gateway.base_url, 1)
            unknown = _interaction(gateway.base_url, 987654)
        finally:
            gateway.stop()
    # The remaining counter differs only because tenant 1 was asked twice before.
    assert _comparable(failed) == _comparable(unknown)
    assert (failed.status_code, failed.json()) == (202, {"status": "accepted"})


# --- 5. CORS answers only the allowed origins -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "allowed", "refused"),
    [
        ("/api/v1/interactions", SHOP_ORIGIN, EVIL_ORIGIN),  # public
        ("/api/v1/events", ADMIN_ORIGIN, SHOP_ORIGIN),  # authenticated
        ("/create-events", ADMIN_ORIGIN, EVIL_ORIGIN),
        ("/v2/events", ADMIN_ORIGIN, "null"),
    ],
)
def test_cors_answers_only_allowed_origins(site: Site, path: str, allowed: str, refused: str) -> None:
    base = site.gateway.base_url
    answers: dict[str, list[httpx.Response]] = {}
    for origin in (allowed, refused):
        answers[origin] = [
            httpx.options(f"{base}{path}", headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-api-key, authorization"}),
            httpx.post(f"{base}{path}", headers={"Origin": origin, "x-api-key": site.key,
                                                 "Authorization": f"Bearer {site.key}", "Cookie": "session=1"},
                       params={"api_key": site.key} if path == "/create-events" else None,
                       json={"tenant_id": 1, "type": "view"}),
        ]
    for responses in answers.values():
        for response in responses:
            assert "Origin" in response.headers.get("vary", "")
    # Credentials go with the echoed origin only (never with "*"), and only to the
    # origins allowed on that path.
    preflight, simple = answers[allowed]
    assert preflight.status_code == 204
    for response in (preflight, simple):
        assert response.headers["access-control-allow-origin"] == allowed
        assert response.headers["access-control-allow-credentials"] == "true"
    preflight, simple = answers[refused]
    assert preflight.status_code == 400
    for response in (preflight, simple):
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-credentials" not in response.headers


# --- 6. request size limits --------------------------------------------------------------------


def test_bodies_over_the_limit_are_413_also_after_decompression(site: Site) -> None:
    base = site.gateway.base_url
    before = count_events(site.database)
    big = b'{"events":[' + b" " * (MAX_BODY + 1) + b"]}"
    plain = httpx.post(f"{base}/api/v1/events", headers={"x-api-key": site.key, "Content-Type": "application/json"}, content=big)
    packed = gzip.compress(b'{"events":[' + b" " * (MAX_BODY * 50) + b"]}")
    assert len(packed) < MAX_BODY
    zipped = httpx.post(f"{base}/api/v1/events", content=packed,
                        headers={"x-api-key": site.key, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    public = httpx.post(f"{base}/api/v1/interactions", headers={"Content-Type": "application/json"},
                        content=b'{"tenant_id":1,"type":"view","metadata":{"x":"' + b"a" * MAX_BODY + b'"}}')
    assert plain.status_code == zipped.status_code == public.status_code == 413
    assert f"request body exceeds {MAX_BODY} bytes" in plain.text
    assert count_events(site.database) == before


def _raw_request(port: int, extra_headers: str) -> str:
    body = b'{"tenant_id":1,"type":"view"}'
    request = (
        f"POST /api/v1/interactions HTTP/1.1\r\nHost: x\r\n{extra_headers}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        return sock.makefile("rb").readline().decode().strip()


def test_header_limits_as_documented(site: Site) -> None:
    """Documents docs/security.md §6: what uvicorn+httptools does with huge headers."""
    one_big = _raw_request(site.gateway.http_port, f"x-big: {'v' * 2_000_000}\r\n")
    many = _raw_request(site.gateway.http_port, "".join(f"x-h{i}: v\r\n" for i in range(20_000)))
    for status_line in (one_big, many):
        assert status_line.startswith("HTTP/1.1 "), status_line
        assert int(status_line.split()[1]) in (201, 413, 431), status_line
    assert httpx.get(f"{site.gateway.base_url}/healthz").status_code == 200


# --- 8. other findings -------------------------------------------------------------------------


def test_error_bodies_do_not_echo_the_input(site: Site) -> None:
    base = site.gateway.base_url
    probe = "<script>alert(1)</script>" + uuid.uuid4().hex
    responses = [
        httpx.post(f"{base}/api/v1/events", headers={"x-api-key": probe}, json={"events": []}),
        httpx.post(f"{base}/create-events", params={"api_key": probe}, json=[]),
        httpx.post(f"{base}/v2/events", headers={"Authorization": f"Bearer {probe}"}, json={}),
        httpx.post(f"{base}/api/v1/analytics/track", json={"tenant_id": probe, "type": "call"}),
        httpx.post(f"{base}/api/v1/interactions", json={"tenant_id": probe, "type": "view"}),
        httpx.post(f"{base}/api/v1/events", headers={"x-api-key": site.key, "Content-Type": "application/json"},
                   content=("{" + probe).encode()),
        httpx.post(f"{base}/{probe}", json={}),
    ]
    for response in responses:
        assert response.status_code >= 400, response.text
        assert probe not in response.text, response.text
        assert "<script>" not in response.text
