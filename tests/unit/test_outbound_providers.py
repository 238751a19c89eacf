"""Outbound providers: the composition root's registries hand each party to the provider of its
configured format, and refuse a format none speaks (naming the party and the format) without a
call going out."""

import pytest

import config
from adapters.outbound.carrier_generic import GenericCarrier
from adapters.outbound.channel_amazon import AmazonChannel
from adapters.outbound.channel_canonical import CanonicalChannel
from adapters.outbound.channel_shopify import ShopifyChannel
from adapters.outbound.channel_taobao import TaobaoChannel
from adapters.outbound.channel_woocommerce import WooCommerceChannel
from adapters.outbound.registry import Registry
from adapters.outbound.wms_generic import GenericWms
from adapters.outbound.wms_qimen import QimenWms
from adapters.outbound.wms_shiphero import ShipHeroWms
from adapters.wiring import outbound_clients
from services.ports import OutboundError

pytestmark = pytest.mark.unit

UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
def clients():
    return outbound_clients(config.get_settings())


@pytest.mark.parametrize("fmt, provider", [
    ("generic", GenericWms), ("qimen", QimenWms), ("shiphero", ShipHeroWms), (None, GenericWms), ("", GenericWms)])
def test_a_warehouse_gets_the_provider_of_its_wms_format(clients, fmt, provider):
    warehouse = {"_id": "W1", "wms_url": UNREACHABLE} | ({} if fmt is None else {"wms_format": fmt})
    assert type(clients.wms.provider(warehouse)) is provider


@pytest.mark.parametrize("fmt, provider", [
    ("canonical", CanonicalChannel), ("shopify", ShopifyChannel), ("woocommerce", WooCommerceChannel),
    ("taobao", TaobaoChannel), ("amazon", AmazonChannel), (None, CanonicalChannel), ("", CanonicalChannel)])
def test_a_channel_gets_the_provider_of_its_format(clients, fmt, provider):
    channel = {"_id": "c1", "api_url": UNREACHABLE} | ({} if fmt is None else {"format": fmt})
    assert type(clients.channel.provider(channel)) is provider


@pytest.mark.parametrize("tracking_format", ["generic", "aftership", "easypost", "17track"])
def test_a_carrier_without_a_booking_format_is_booked_in_the_generic_format(clients, tracking_format):
    carrier = {"_id": "k1", "api_url": UNREACHABLE, "tracking_format": tracking_format}
    assert type(clients.carrier.provider(carrier)) is GenericCarrier


def test_an_unknown_wms_format_is_refused_naming_the_warehouse_and_the_format(clients):
    warehouse = {"_id": "W9", "wms_url": UNREACHABLE, "wms_format": "sap"}
    calls = [lambda: clients.wms.create_delivery_order(warehouse, {"fulfilment_id": "F1"}),
             lambda: clients.wms.cancel_delivery_order(warehouse, "F1"),
             lambda: clients.wms.change_address(warehouse, "F1", {})]
    for call in calls:
        with pytest.raises(OutboundError) as refused:
            call()
        assert refused.value.retryable is False
        assert refused.value.party == "wms:W9"
        assert "'sap'" in str(refused.value) and "wms:W9" in str(refused.value)


def test_an_unknown_channel_format_records_its_notices_as_unsupported_and_refuses_to_send(clients):
    channel = {"_id": "c9", "api_url": UNREACHABLE, "format": "ebay"}
    for kind in ("shipped", "cancelled", "refunded"):
        why = clients.channel.unsupported(channel, kind)
        assert why is not None and "channel:c9" in why and "'ebay'" in why
        assert clients.channel.needs_raw(channel, kind) is False
    with pytest.raises(OutboundError) as refused:
        clients.channel.notify(channel, {"id": "F1:shipped", "kind": "shipped"}, {"channel_order_id": "1"})
    assert refused.value.retryable is False
    assert refused.value.party == "channel:c9" and "'ebay'" in str(refused.value)


@pytest.mark.parametrize("fmt, unsupported, needs_raw", [
    ("canonical", set(), set()),
    ("shopify", set(), {"shipped", "refunded"}),  # its line item ids, to find the fulfillment order lines
    ("woocommerce", set(), set()),
    ("taobao", {"cancelled", "refunded"}, {"shipped"}),
    ("amazon", {"cancelled", "refunded"}, {"shipped"}),
])
def test_each_channel_provider_declares_what_its_api_cannot_take_and_what_needs_the_raw_order(
        clients, fmt, unsupported, needs_raw):
    channel = {"_id": "c1", "api_url": UNREACHABLE, "format": fmt}
    kinds = ("shipped", "cancelled", "refunded")
    assert {k for k in kinds if clients.channel.unsupported(channel, k)} == unsupported
    assert {k for k in kinds if clients.channel.needs_raw(channel, k)} == needs_raw


def test_an_unsupported_notice_is_refused_before_anything_is_sent(clients):
    channel = {"_id": "amz", "api_url": UNREACHABLE, "format": "amazon"}
    with pytest.raises(OutboundError) as refused:
        clients.channel.notify(channel, {"id": "O1:cancelled", "kind": "cancelled"}, {"channel_order_id": "1"})
    assert refused.value.retryable is False and "no seller cancellation" in str(refused.value)


def test_a_registry_picks_by_format_and_names_what_it_knows_when_it_refuses():
    registry = Registry("widget", {"a": "provider a", "b": "provider b"})
    assert registry.provider("widget:1", "b") == "provider b"
    assert "a" in registry and "c" not in registry
    with pytest.raises(OutboundError) as refused:
        registry.provider("widget:1", "c")
    assert str(refused.value) == "widget:1: no widget provider for format 'c' (known: a, b)"
    assert refused.value.retryable is False
