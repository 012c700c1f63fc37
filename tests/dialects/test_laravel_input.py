"""Laravel's default input middleware (TrimStrings, ConvertEmptyStringsToNull), and the
storefront's REST codec reading bodies through it."""

from __future__ import annotations

import pytest
from storefront.v1 import analytics_pb2 as pb

from event_gateway.config import Settings
from event_gateway.contract import default_contract
from event_gateway.dialects.laravel_input import clean, trim
from event_gateway.server import transcoding_options
from event_gateway.transcoding import MessageCodec


@pytest.mark.parametrize(
    ("sent", "seen"),
    [(" call ", "call"), ("\t\ncall\r\n", "call"), ("\ufeff\u200bcall\u00a0", "call"), ("a b", "a b"),
     ("", None), ("   ", None), (0, 0), (False, False), (None, None), (1.5, 1.5)],
)
def test_strings_are_trimmed_and_empty_ones_are_null(sent: object, seen: object) -> None:
    assert clean(sent) == seen


def test_cleaning_reaches_every_depth_and_list_item_but_never_a_key() -> None:
    sent = {" k ": " v ", "metadata": {"source": " page ", "empty": "", "tags": [" a ", ""]}}
    assert clean(sent) == {" k ": "v", "metadata": {"source": "page", "empty": None, "tags": ["a", None]}}
    assert clean(clean(sent)) == clean(sent)  # twice is once
    assert sent["metadata"]["source"] == " page "  # the argument is left alone


def test_passwords_at_the_top_level_are_not_trimmed() -> None:
    # TrimStrings::$except, matched on the full dotted key.
    sent = {"password": " secret ", "password_confirmation": " x ", "user": {"password": " y "}}
    assert clean(sent) == {"password": " secret ", "password_confirmation": " x ", "user": {"password": "y"}}
    assert clean({"password": ""}) == {"password": None}  # ConvertEmptyStringsToNull has no exception


def test_trim_keeps_inner_whitespace() -> None:
    assert trim("  mi  negocio  ") == "mi  negocio"


def _storefront_codec(method: str) -> MessageCodec:
    contract = default_contract()
    options = transcoding_options(contract, Settings())
    descriptor = contract.method(f"/storefront.v1.StorefrontAnalyticsService/{method}").descriptor
    assert options.request_codec is not None
    return MessageCodec.for_descriptor(descriptor.input_type, options.request_codec(descriptor))


def test_storefront_bodies_are_read_through_the_middleware() -> None:
    track = _storefront_codec("Track").decode(b'{"tenant_id": " acme ", "type": " call ", "product_id": ""}')
    assert (track.tenant_id, track.type, track.HasField("product_id")) == ("acme", pb.INTERACTION_TYPE_CALL, False)
    assert _storefront_codec("Track").decode(b'{"type": "   "}').type == 0  # then "required"
    conversion = _storefront_codec("Conversion").decode(b'{"tenant_slug": " acme-store ", "value": "", "currency": " "}')
    assert conversion.tenant_slug == "acme-store"
    assert not conversion.HasField("value") and not conversion.HasField("currency")  # the defaults apply
    interaction = _storefront_codec("RecordInteraction").decode(b'{"tenant_id": "", "type": "view"}')
    assert not interaction.HasField("tenant_id")  # then "required"


def test_storefront_metadata_may_be_a_php_array() -> None:
    # json_decode(..., true) makes [] and {} one empty array; Laravel's `array` rule takes both.
    track = _storefront_codec("Track").decode(b'{"metadata": []}')
    assert track.HasField("metadata") and dict(track.metadata) == {}
    listed = _storefront_codec("RecordInteraction").decode(b'{"metadata": ["a"]}')
    assert dict(listed.metadata) == {"0": "a"}
