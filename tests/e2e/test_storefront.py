"""Storefront analytics (track, conversion beacon, interactions) end to end."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import httpx
import pytest

from storefront.v1 import analytics_pb2 as pb
from storefront.v1 import analytics_pb2_grpc as pb_grpc
from tests.e2e.conftest import Deployment
from tests.e2e.grpc_client import channel
from tests.e2e.harness import cli, count_events, create_tenant

EXAMPLES = Path(__file__).parents[1] / "data" / "seed_examples"


def storefront_count(deployment: Deployment, tenant: str = "acme") -> int:
    return count_events(deployment.database, "--api", "storefront", "--tenant", tenant)


def post(deployment: Deployment, path: str, body: object) -> httpx.Response:
    return httpx.post(f"{deployment.gateway.base_url}{path}", json=body, headers={"Accept": "application/json"})


def track_body(**changes: object) -> dict:
    body = json.loads((EXAMPLES / "storefront_track.json").read_text())
    body["tenant_id"] = "acme"
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_track_accepts_the_documented_example(deployment: Deployment) -> None:
    before = storefront_count(deployment)
    response = post(deployment, "/api/v1/analytics/track", track_body())
    assert response.status_code == 202
    assert response.json() == {"success": True, "message": "Event accepted for processing"}
    assert storefront_count(deployment) == before + 1


def test_track_merges_product_id_into_metadata(deployment: Deployment) -> None:
    post(deployment, "/api/v1/analytics/track", track_body(metadata={"marker": "merge-check"}))
    lines = cli(deployment.database, "events", "export", "--format", "ndjson", "--api", "storefront").stdout
    record = [json.loads(l) for l in lines.splitlines() if "merge-check" in l][-1]
    payload = record["payload"] if isinstance(record["payload"], dict) else json.loads(record["payload"])
    assert payload["metadata"]["product_id"] == 101


@pytest.mark.parametrize("tenant", ["no-such-tenant", "dormant"])
def test_track_unknown_or_inactive_tenant_is_404(deployment: Deployment, tenant: str) -> None:
    response = post(deployment, "/api/v1/analytics/track", track_body(tenant_id=tenant))
    assert response.status_code == 404
    assert response.json() == {"success": False, "message": "Tenant not found or not available"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (track_body(tenant_id=None), "tenant_id"),
        (track_body(type=None), "type"),
        (track_body(type="not-a-type"), "type"),
        (track_body(product_id=999), "product_id"),
        (track_body(product_id="abc"), "product_id"),
    ],
    ids=["no-tenant", "no-type", "bad-type", "unknown-product", "non-integer-product"],
)
def test_track_invalid_fields_are_laravel_422(deployment: Deployment, body: dict, field: str) -> None:
    before = storefront_count(deployment)
    response = post(deployment, "/api/v1/analytics/track", body)
    assert response.status_code == 422
    payload = response.json()
    assert isinstance(payload["message"], str) and payload["message"]
    assert field in payload["errors"] and all(isinstance(m, str) for m in payload["errors"][field])
    assert storefront_count(deployment) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": None}, "The type field is required."),
        # Laravel's ConvertEmptyStringsToNull: an empty string is a missing value.
        ({"type": ""}, "The type field is required."),
        ({"type": "not-a-type"}, "The selected type is invalid."),
        ({"type": "INTERACTION_TYPE_CALL"}, "The selected type is invalid."),  # the proto name
        ({"type": 1}, "The selected type is invalid."),
        ({"type": 42}, "The selected type is invalid."),
    ],
    ids=["missing", "empty", "unknown", "proto-name", "number", "undeclared-number"],
)
def test_track_type_reads_like_laravels_required_in_rule(deployment: Deployment, changes: dict, message: str) -> None:
    response = post(deployment, "/api/v1/analytics/track", track_body(**changes))
    assert response.status_code == 422
    assert response.json()["errors"]["type"] == [message]


def test_conversion_documented_example_and_retry_counted_once(deployment: Deployment) -> None:
    body = json.loads((EXAMPLES / "storefront_conversion.json").read_text())
    body["tenant_slug"] = "acme-store"
    before = storefront_count(deployment)
    first = post(deployment, "/api/v1/analytics/conversion", body)
    assert first.status_code == 200
    assert first.json() == {"status": "ok", "transaction_id": "txn_abc123"}
    second = post(deployment, "/api/v1/analytics/conversion", body)
    assert second.status_code == 200 and second.json()["status"] == "ok"
    assert storefront_count(deployment) == before + 1


@pytest.mark.parametrize(
    "body",
    [{"tenant_slug": "nobody", "transaction_id": "t-1"}, {"transaction_id": "t-2"}, {"tenant_slug": "dormant-store"}],
    ids=["unknown-slug", "missing-slug", "inactive"],
)
def test_conversion_without_a_tenant_is_skipped_never_an_error(deployment: Deployment, body: dict) -> None:
    response = post(deployment, "/api/v1/analytics/conversion", body)
    assert response.status_code == 200
    assert response.json() == {"status": "skipped", "transaction_id": body.get("transaction_id")}


def test_a_conversion_without_a_transaction_id_answers_it_null(deployment: Deployment) -> None:
    # "transaction_id: Echoed back from the request": a Laravel controller answering
    # `'transaction_id' => $request->transaction_id` writes null when none was sent.
    response = post(deployment, "/api/v1/analytics/conversion", {"tenant_slug": "acme-store", "value": 1})
    assert response.json() == {"status": "ok", "transaction_id": None}


@pytest.mark.parametrize("content", [b"{not json", b"[1,2,3]", b'{"value": "lots"}'])
def test_conversion_beacon_swallows_bad_bodies(deployment: Deployment, content: bytes) -> None:
    response = httpx.post(
        f"{deployment.gateway.base_url}/api/v1/analytics/conversion",
        content=content,
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert response.status_code == 200
    assert response.json() == {"status": "skipped", "transaction_id": None}


@pytest.mark.parametrize(
    ("body", "echoed", "reason"),
    [({"tenant_slug": "acme-store", "transaction_id": "typed-1", "value": "abc"}, "typed-1",
      "value is not a valid value (not a number: 'abc')"),
     ({"tenant_slug": "acme-store", "transaction_id": 4711, "value": 5}, "4711",
      "transaction_id has the wrong JSON type (expected string, got number)")],
    ids=["value-not-a-number", "numeric-transaction-id"],
)
def test_conversion_with_an_unreadable_value_echoes_its_id_and_is_quarantined_as_sent(
    deployment: Deployment, body: dict, echoed: str, reason: str
) -> None:
    before = storefront_count(deployment)
    response = post(deployment, "/api/v1/analytics/conversion", body)
    assert response.status_code == 200
    assert response.json() == {"status": "skipped", "transaction_id": echoed}
    assert storefront_count(deployment) == before
    exported = cli(deployment.database, "events", "export", "--format", "ndjson", "--rejected",
                   "--api", "storefront").stdout
    last = json.loads(exported.splitlines()[-1])
    payload = last["payload"] if isinstance(last["payload"], dict) else json.loads(last["payload"])
    assert last["reason"] == reason and payload == body


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_conversion_with_another_method_is_405_not_a_beacon(deployment: Deployment, method: str) -> None:
    response = httpx.request(method, f"{deployment.gateway.base_url}/api/v1/analytics/conversion")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert "message" in response.json()


def test_conversion_as_text_plain_beacon_is_stored(deployment: Deployment) -> None:
    before = storefront_count(deployment)
    response = httpx.post(
        f"{deployment.gateway.base_url}/api/v1/analytics/conversion",
        content=json.dumps({"tenant_slug": "acme-store", "transaction_id": "beacon-1", "value": 10}),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert response.json() == {"status": "ok", "transaction_id": "beacon-1"}
    assert storefront_count(deployment) == before + 1


def test_html_forms_are_read_as_laravel_reads_them(deployment: Deployment) -> None:
    # sendBeacon(url, new URLSearchParams(...)) or (url, new FormData(...)), or a <form>.
    base = deployment.gateway.base_url
    before = storefront_count(deployment)
    conversion = {"tenant_slug": "acme-store", "transaction_id": "form-1", "value": "12.50", "currency": "USD"}
    urlencoded = httpx.post(f"{base}/api/v1/analytics/conversion", data=conversion)
    multipart = httpx.post(f"{base}/api/v1/analytics/conversion", data={**conversion, "transaction_id": "form-2"},
                           files={"receipt": ("r.txt", b"ignored")})
    track = httpx.post(f"{base}/api/v1/analytics/track", headers={"Accept": "application/json"},
                       data={"tenant_id": "acme", "type": "cart_add", "product_id": "101",
                             "metadata[marker]": "form-track"})
    interaction = httpx.post(f"{base}/api/v1/interactions", data={"tenant_id": "1", "type": "view"})
    invalid = httpx.post(f"{base}/api/v1/analytics/track", headers={"Accept": "application/json"},
                         data={"tenant_id": "acme", "type": "teleport"})
    assert urlencoded.json() == {"status": "ok", "transaction_id": "form-1"}
    assert multipart.json() == {"status": "ok", "transaction_id": "form-2"}
    assert track.status_code == 202 and interaction.status_code == 201
    assert invalid.status_code == 422 and invalid.json()["errors"] == {"type": ["The selected type is invalid."]}
    assert storefront_count(deployment) == before + 4
    lines = cli(deployment.database, "events", "export", "--format", "ndjson", "--api", "storefront").stdout
    stored = [json.loads(line) for line in lines.splitlines() if "form-1" in line or "form-track" in line]
    payloads = [r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"]) for r in stored]
    assert {p.get("value") for p in payloads if "transaction_id" in p} == {12.5}
    assert [p["metadata"] for p in payloads if "metadata" in p] == [{"marker": "form-track", "product_id": 101}]


def test_interaction_known_tenant_is_201(deployment: Deployment) -> None:
    before = storefront_count(deployment)
    body = json.loads((EXAMPLES / "storefront_interactions.json").read_text())
    response = post(deployment, "/api/v1/interactions", body)
    assert response.status_code == 201
    assert response.json() == {"status": "success"}
    assert storefront_count(deployment) == before + 1


@pytest.mark.parametrize("tenant_id", [999, 3], ids=["unknown", "inactive"])
def test_interaction_unknown_tenant_is_silently_202(deployment: Deployment, tenant_id: int) -> None:
    total = count_events(deployment.database, "--api", "storefront")
    response = post(deployment, "/api/v1/interactions", {"tenant_id": tenant_id, "type": "view"})
    assert response.status_code == 202
    assert response.json() == {"status": "accepted"}
    assert count_events(deployment.database, "--api", "storefront") == total


@pytest.mark.parametrize(
    "body",
    [{"type": "view"}, {"tenant_id": 1}, {"tenant_id": 1, "type": "call"}, {"tenant_id": "x", "type": "view"},
     {"tenant_id": 1, "type": "INTERACTION_KIND_VIEW"}, {"tenant_id": 1, "type": 1}],
    ids=["no-tenant", "no-type", "type-outside-the-four", "non-numeric-tenant", "proto-name", "number"],
)
def test_interaction_invalid_is_422(deployment: Deployment, body: dict) -> None:
    response = post(deployment, "/api/v1/interactions", body)
    assert response.status_code == 422
    assert "errors" in response.json()


def test_interaction_empty_type_is_required_as_laravel_reads_it(deployment: Deployment) -> None:
    response = post(deployment, "/api/v1/interactions", {"tenant_id": 1, "type": ""})
    assert response.status_code == 422
    assert response.json()["errors"] == {"type": ["The type field is required."]}


async def test_grpc_track_and_interactions(deployment: Deployment) -> None:
    async with channel(deployment.gateway.grpc_target) as ch:
        stub = pb_grpc.StorefrontAnalyticsServiceStub(ch)
        ok = await stub.Track(pb.TrackRequest(tenant_id="acme", type=pb.INTERACTION_TYPE_CALL))
        assert ok.success and ok.message == "Event accepted for processing"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Track(pb.TrackRequest(tenant_id="nobody", type=pb.INTERACTION_TYPE_CALL))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Track(pb.TrackRequest(tenant_id="acme"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        recorded = await stub.RecordInteraction(pb.RecordInteractionRequest(tenant_id=1, type=pb.INTERACTION_KIND_VIEW))
        assert recorded.status == "success"
        silent = await stub.RecordInteraction(pb.RecordInteractionRequest(tenant_id=999, type=pb.INTERACTION_KIND_VIEW))
        assert silent.status == "accepted"
        beacon = await stub.Conversion(pb.ConversionRequest(tenant_slug="nobody"))
        assert beacon.status == "skipped"


# --- Laravel's input middleware: TrimStrings, ConvertEmptyStringsToNull (2026-12-03) ----------


def _rejected_after(deployment: Deployment, count: int) -> list[dict]:
    exported = cli(deployment.database, "events", "export", "--format", "ndjson", "--rejected",
                   "--api", "storefront").stdout.splitlines()
    return [json.loads(line) for line in exported[count:]]


def _rejected_count(deployment: Deployment) -> int:
    return len(_rejected_after(deployment, 0))


def test_conversion_empty_value_is_the_default_as_laravel_reads_it(deployment: Deployment) -> None:
    base = deployment.gateway.base_url
    before, rejected = storefront_count(deployment), _rejected_count(deployment)
    as_json = post(deployment, "/api/v1/analytics/conversion",
                   {"tenant_slug": "acme-store", "transaction_id": "empty-value-1", "value": ""})
    as_form = httpx.post(f"{base}/api/v1/analytics/conversion",
                         data={"tenant_slug": "acme-store", "transaction_id": "empty-value-2", "value": ""})
    assert as_json.json() == {"status": "ok", "transaction_id": "empty-value-1"}
    assert as_form.json() == {"status": "ok", "transaction_id": "empty-value-2"}
    assert storefront_count(deployment) == before + 2 and _rejected_after(deployment, rejected) == []


@pytest.mark.parametrize(
    ("path", "body", "status", "errors"),
    [
        ("/api/v1/analytics/track", track_body(product_id=""), 202, None),
        ("/api/v1/analytics/track", track_body(type=" call "), 202, None),
        ("/api/v1/analytics/track", track_body(tenant_id=" acme "), 202, None),
        ("/api/v1/analytics/track", track_body(type="   "), 422, {"type": ["The type field is required."]}),
        ("/api/v1/interactions", {"tenant_id": "", "type": "view"}, 422,
         {"tenant_id": ["The tenant id field is required."]}),
        ("/api/v1/interactions", {"tenant_id": " 1 ", "type": " view "}, 201, None),
    ],
    ids=["empty-product", "padded-type", "padded-tenant", "blank-type", "empty-tenant", "padded-interaction"],
)
def test_strings_are_trimmed_and_empty_ones_null_as_laravel_reads_them(
    deployment: Deployment, path: str, body: dict, status: int, errors: dict | None
) -> None:
    response = post(deployment, path, body)
    assert response.status_code == status, response.text
    if errors is not None:
        assert response.json()["errors"] == errors


def test_conversion_slug_with_surrounding_spaces_finds_its_tenant(deployment: Deployment) -> None:
    before = storefront_count(deployment)
    response = post(deployment, "/api/v1/analytics/conversion",
                    {"tenant_slug": " acme-store ", "transaction_id": " padded-1 "})
    assert response.json() == {"status": "ok", "transaction_id": "padded-1"}
    assert storefront_count(deployment) == before + 1


def _stored_metadata(deployment: Deployment, marker: str) -> dict:
    lines = cli(deployment.database, "events", "export", "--format", "ndjson", "--api", "storefront").stdout
    record = [json.loads(line) for line in lines.splitlines() if marker in line][-1]
    payload = record["payload"] if isinstance(record["payload"], dict) else json.loads(record["payload"])
    return payload["metadata"]


def test_track_metadata_may_be_a_php_array(deployment: Deployment) -> None:
    # PHP's json_decode reads [] like {}: Laravel's `array` rule accepts it (2026-12-03).
    empty = post(deployment, "/api/v1/analytics/track", track_body(metadata=[]))
    listed = post(deployment, "/api/v1/analytics/track", track_body(metadata=["php-list-marker"]))
    assert (empty.status_code, listed.status_code) == (202, 202), (empty.text, listed.text)
    # Stored as PHP's array_merge with the product id would write it.
    assert _stored_metadata(deployment, "php-list-marker") == {"0": "php-list-marker", "product_id": 101}
    scalar = post(deployment, "/api/v1/analytics/track", track_body(metadata="x"))
    assert scalar.json()["errors"] == {"metadata": ["The metadata field must be an array."]}


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/api/v1/analytics/track", {"type": "call", "product_id": "abc"},
         {"message": "The tenant id field is required. (and 1 more error)",
          "errors": {"tenant_id": ["The tenant id field is required."],
                     "product_id": ["The product id field must be an integer."]}}),
        ("/api/v1/analytics/track", {"tenant_id": "acme", "type": "nope", "product_id": "abc"},
         {"message": "The selected type is invalid. (and 1 more error)",
          "errors": {"type": ["The selected type is invalid."],
                     "product_id": ["The product id field must be an integer."]}}),
        ("/api/v1/analytics/track", {"tenant_id": 7, "type": "nope", "product_id": "abc", "metadata": "x"},
         {"message": "The tenant id field must be a string. (and 3 more errors)",
          "errors": {"tenant_id": ["The tenant id field must be a string."],
                     "type": ["The selected type is invalid."],
                     "product_id": ["The product id field must be an integer."],
                     "metadata": ["The metadata field must be an array."]}}),
        ("/api/v1/interactions", {"tenant_id": "abc"},
         {"message": "The tenant id field must be an integer. (and 1 more error)",
          "errors": {"tenant_id": ["The tenant id field must be an integer."],
                     "type": ["The type field is required."]}}),
    ],
    ids=["missing-tenant-and-bad-product", "bad-type-and-bad-product", "four-fields", "bad-tenant-and-no-type"],
)
def test_every_failed_field_is_reported_as_laravels_validator_does(
    deployment: Deployment, path: str, body: dict, expected: dict
) -> None:
    before = storefront_count(deployment, "acme")
    response = post(deployment, path, body)
    assert response.status_code == 422
    assert response.json() == expected
    assert list(response.json()["errors"]) == list(expected["errors"])  # the rules' order
    assert storefront_count(deployment, "acme") == before


def test_track_finds_a_tenant_uuid_sent_in_upper_case(deployment: Deployment) -> None:
    # MySQL's default collation and PostgreSQL's uuid type match UUIDs in any case (2026-12-03).
    uuid = "3f2b8c1e-9a7d-4e6f-b5c4-2d1e0f9a8b7c"
    create_tenant(deployment.database, uuid, "uuid-store", 40)
    before = storefront_count(deployment, uuid)
    response = post(deployment, "/api/v1/analytics/track", {"tenant_id": uuid.upper(), "type": "call"})
    assert response.status_code == 202, response.text
    assert storefront_count(deployment, uuid) == before + 1  # stored under the tenant's own id
