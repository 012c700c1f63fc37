from __future__ import annotations

import grpc
import pytest

from alana.v1 import shopper_events_pb2 as alana_pb2
from storefront.v1 import analytics_pb2 as sf_pb2

from .conftest import GatewayFactory


async def test_scope_carries_the_method_and_the_socket_peer(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    await gw.storefront.Track(sf_pb2.TrackRequest(tenant_id="t"), metadata=[("x-forwarded-for", "6.6.6.6")])
    (call,) = gw.calls.scopes
    assert call.method.full_name == "/storefront.v1.StorefrontAnalyticsService/Track"
    assert call.client_ip == "127.0.0.1"  # the spoofed header from an untrusted peer is ignored
    assert call.principal is None


async def test_forwarded_for_believed_from_a_trusted_proxy(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(trusted_proxies=["127.0.0.0/8"])
    await gw.storefront.Track(
        sf_pb2.TrackRequest(), metadata=[("x-forwarded-for", "6.6.6.6, 198.51.100.4")]
    )
    assert gw.calls.scopes[0].client_ip == "198.51.100.4"


async def test_spoofed_forwarded_for_cannot_escape_a_per_address_limit(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(overrides={"storefront": {"api": "3/minute"}})
    codes = []
    for i in range(5):
        try:
            await gw.storefront.Track(sf_pb2.TrackRequest(), metadata=[("x-forwarded-for", f"10.0.0.{i}")])
            codes.append(grpc.StatusCode.OK)
        except grpc.aio.AioRpcError as err:
            codes.append(err.code())
    assert codes == [grpc.StatusCode.OK] * 3 + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2


async def test_methods_outside_the_contract_pass_untouched(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    call = gw.channel.unary_unary("/nope.v1.Nope/Nothing")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(b"")
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_public_api_needs_no_key(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    response = await gw.storefront.Track(sf_pb2.TrackRequest())
    assert response.success


async def test_authenticated_api_puts_the_principal_in_scope(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    key = gw.catalog.add(tenant="acme")
    await gw.alana.TrackEvents(alana_pb2.TrackEventsRequest(), metadata=[("x-api-key", key)])
    assert gw.calls.scopes[0].principal is not None
    assert gw.calls.scopes[0].principal.tenant == "acme"
