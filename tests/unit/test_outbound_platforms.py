"""The platform shapes of the outbound providers, without a socket: WooCommerce's OAuth 1.0a base
string and signature, Shopify's call-limit back-off and fulfillment order lines, EasyPost's
parcel units and rate choice, ShipHero's inputs and throttling error, the shared policy's
``Retry-After``, and which provider a carrier's booking and trackers go to."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx
import pytest

import config
from adapters.outbound import channel_shopify, channel_woocommerce, policy, wms_shiphero
from adapters.outbound.carrier_17track import SeventeenTrack
from adapters.outbound.carrier_easypost import EasyPostCarrier, choose_rate, parcel_of, to_address
from adapters.outbound.carrier_generic import GenericCarrier
from adapters.wiring import outbound_clients
from services.ports import OutboundError

pytestmark = pytest.mark.unit


# --- WooCommerce ---------------------------------------------------------------------------------

def test_woocommerce_oauth_signs_the_base_string_as_woocommerce_checks_it():
    params = {"oauth_consumer_key": "ck_1", "oauth_timestamp": "1700000000", "oauth_nonce": "n1",
              "oauth_signature_method": "HMAC-SHA256"}
    url = "http://shop.example:8080/wp-json/wc/v3/orders/7/notes?search=a b"
    # WC_REST_Authentication: METHOD & rawurlencode(URL without query) & the sorted key=value pairs,
    # each pair encoded again after its key and value were, joined by %26; the key is secret + "&"
    base = ("POST&http%3A%2F%2Fshop.example%3A8080%2Fwp-json%2Fwc%2Fv3%2Forders%2F7%2Fnotes&"
            "oauth_consumer_key%3Dck_1%26oauth_nonce%3Dn1%26oauth_signature_method%3DHMAC-SHA256%26"
            "oauth_timestamp%3D1700000000%26search%3Da%2520b")
    expected = base64.b64encode(hmac.new(b"cs_1&", base.encode(), hashlib.sha256).digest()).decode()
    assert channel_woocommerce.oauth_signature("post", url, params, "cs_1") == expected


def test_woocommerce_signs_each_request_anew_over_http_and_uses_basic_over_https():
    channel = {"_id": "woo", "consumer_key": "ck_1", "consumer_secret": "cs_1"}
    first = channel_woocommerce.authentication("POST", "http://shop.example/wp-json/wc/v3/orders/7/notes", channel)
    second = channel_woocommerce.authentication("POST", "http://shop.example/wp-json/wc/v3/orders/7/notes", channel)
    assert set(first["params"]) == {"oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature_method",
                                    "oauth_signature"}
    assert first["params"]["oauth_nonce"] != second["params"]["oauth_nonce"]  # WooCommerce refuses a used nonce
    assert abs(int(first["params"]["oauth_timestamp"]) - time.time()) < 5
    assert channel_woocommerce.authentication("PUT", "https://shop.example/wp-json/wc/v3/orders/7", channel) == \
        {"auth": ("ck_1", "cs_1")}
    with pytest.raises(OutboundError) as refused:
        channel_woocommerce.authentication("PUT", "https://shop.example/x", {"_id": "woo", "api_token": "t"})
    assert refused.value.retryable is False and "consumer_key" in str(refused.value)


# --- Shopify -------------------------------------------------------------------------------------

@pytest.mark.parametrize("header, wait", [("10/40", 0.0), ("31/40", 0.0), ("32/40", 0.5), ("40/40", 4.5),
                                          ("4/4", 0.9), ("", 0.0), ("junk", 0.0), (None, 0.0), ("3/0", 0.0)])
def test_shopify_backs_off_once_the_bucket_is_80_percent_full(header, wait):
    assert channel_shopify.CallLimit.wait_for(header) == pytest.approx(wait)


def test_shopify_waits_before_the_next_call_to_a_shop_near_its_limit():
    now, slept = [100.0], []
    limit = channel_shopify.CallLimit(clock=lambda: now[0], sleep=slept.append)
    limit.after("https://a.example", httpx.Response(200, headers={"X-Shopify-Shop-Api-Call-Limit": "36/40"}))
    limit.before("https://b.example")  # another shop: its own bucket
    assert slept == []
    now[0] += 1.0
    limit.before("https://a.example")
    assert slept == [pytest.approx(1.5)]  # (36 - 32 + 1) / 2 s after the answer, 1 s of it gone


def test_shopify_fulfillment_lines_take_the_fulfilments_units_from_open_fulfillment_orders():
    fos = [{"id": 1, "status": "closed", "line_items": [{"id": 11, "line_item_id": 501, "fulfillable_quantity": 2}]},
           {"id": 2, "status": "open", "line_items": [{"id": 21, "line_item_id": 501, "fulfillable_quantity": 1},
                                                      {"id": 22, "line_item_id": 502, "fulfillable_quantity": 3}]},
           {"id": 3, "status": "in_progress", "line_items": [{"id": 31, "line_item_id": 501, "fulfillable_quantity": 5}]}]
    ids = {"SKU-A": ["501"], "SKU-B": ["502"]}
    assert channel_shopify.fulfillment_lines([("SKU-A", 2), ("SKU-B", 1)], ids, fos) == [(2, [(21, 1), (22, 1)]),
                                                                                       (3, [(31, 1)])]
    assert channel_shopify.fulfillment_lines([("SKU-C", 1)], ids, fos) == []


# --- EasyPost ------------------------------------------------------------------------------------

def test_easypost_weighs_in_ounces_and_measures_in_inches():
    assert parcel_of({"weight_grams": 1000}) == {"weight": 35.3}
    assert parcel_of({"weight_grams": 0}) == {"weight": 0.1}  # EasyPost refuses a weightless parcel
    assert parcel_of({"weight_grams": 454, "length_mm": 254, "width_mm": 127, "height_mm": 50}) == \
        {"weight": 16.0, "length": 10.0, "width": 5.0, "height": 2.0}


def test_easypost_addresses_take_the_state_from_the_subdivision_code():
    address = {"name": "Ada", "lines": ["1 Main St", "Fl 2"], "city": "New York", "region": "New York",
               "region_code": "US-NY", "postcode": "10001", "country": "US"}
    assert to_address(address) == {"name": "Ada", "street1": "1 Main St", "street2": "Fl 2", "city": "New York",
                                   "state": "NY", "zip": "10001", "country": "US"}


RATES = [{"id": "r1", "carrier": "USPS", "service": "GroundAdvantage", "rate": "5.93", "delivery_days": 5},
         {"id": "r2", "carrier": "USPS", "service": "Priority", "rate": "7.33", "delivery_days": 2},
         {"id": "r3", "carrier": "USPS", "service": "Express", "rate": "28.40", "delivery_days": 1},
         {"id": "r4", "carrier": "UPS", "service": "Ground", "rate": "5.10", "delivery_days": 5},
         {"id": "r5", "carrier": "UPS", "service": "NextDayAir", "rate": "31.20", "delivery_days": 1}]


@pytest.mark.parametrize("carrier, level, chosen", [
    ({"booking_carrier": "USPS"}, "standard", "r1"),
    ({"booking_carrier": "USPS"}, "express", "r3"),
    ({}, "standard", "r4"),
    ({}, "express", "r3"),
    ({"booking_carrier": "USPS", "booking_service": "Priority"}, "standard", "r2"),
    ({"booking_carrier": "UPS", "booking_service": "Priority"}, "standard", None),
    ({"booking_carrier": "FedEx"}, "standard", None),
])
def test_easypost_buys_the_configured_service_else_the_cheapest_of_the_carriers_level(carrier, level, chosen):
    rate = choose_rate(RATES, carrier, level)
    assert (rate or {}).get("id") == chosen


# --- ShipHero ------------------------------------------------------------------------------------

def test_shiphero_order_create_input_carries_the_fulfilment_as_partner_order_id():
    payload = {"fulfilment_id": "O1-F1", "carrier_id": "fastship", "shipping_method": "express",
               "ship_to": {"name": "Ada King Lovelace", "lines": ["1 Main St"], "city": "New York", "region": "NY",
                           "region_code": "US-NY", "postcode": "10001", "country": "US", "phone": "555"},
               "lines": [{"line_no": 1, "sku": "SKU-A", "quantity": 2}], "cash_on_delivery": "20.00"}
    data = wms_shiphero.order_create_input(payload)
    assert (data["order_number"], data["partner_order_id"]) == ("O1-F1", "O1-F1")
    assert data["line_items"] == [{"sku": "SKU-A", "partner_line_item_id": "1", "quantity": 2, "price": "0.00",
                                   "product_name": "SKU-A"}]
    assert data["shipping_lines"]["carrier"] == "fastship" and data["shipping_lines"]["method"] == "express"
    address = data["shipping_address"]
    assert (address["first_name"], address["last_name"], address["state_code"]) == ("Ada King", "Lovelace", "NY")
    assert data["tags"] == ["cod:20.00"]


def test_shiphero_throttling_is_retried_after_its_time_and_other_errors_are_refusals():
    throttled = wms_shiphero._graphql_error("wms:W", [{"code": 30, "message": "There are not enough credits",
                                                       "time_remaining": "3 seconds"}])
    assert isinstance(throttled, policy.RateLimited) and throttled.retry_after == 3.0 and throttled.retryable
    other = wms_shiphero._graphql_error("wms:W", [{"message": "Order not found"}])
    assert not isinstance(other, policy.RateLimited) and other.retryable is False


# --- the shared policy ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, seconds", [("2.0", 2.0), ("0", 0.0), ("-1", 0.0), ("soon", None), (None, None),
                                            ("nan", None)])
def test_retry_after_is_read_in_seconds(value, seconds):
    assert policy.retry_after_seconds(value) == seconds


def test_a_rate_limited_call_waits_what_it_was_told_and_a_long_wait_is_left_to_the_message(settings_with):
    settings_with(outbound_attempts=3)
    calls: list[float] = []

    @policy.outbound_retry
    def told(after: float) -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise policy.RateLimited("channel:c", "HTTP 429", 429, after)
        return "done"

    assert told(0.3) == "done"
    assert calls[1] - calls[0] >= 0.3
    calls.clear()
    with pytest.raises(policy.RateLimited):
        told(policy.MAX_RETRY_AFTER + 1)
    assert len(calls) == 1


# --- which provider ------------------------------------------------------------------------------

@pytest.fixture
def clients():
    return outbound_clients(config.get_settings())


@pytest.mark.parametrize("carrier, booked_by, tracked_by", [
    ({}, GenericCarrier, GenericCarrier),
    ({"tracking_format": "aftership"}, GenericCarrier, GenericCarrier),
    ({"tracking_format": "17track", "tracking_api_token": "t"}, GenericCarrier, SeventeenTrack),
    ({"tracking_format": "17track"}, GenericCarrier, GenericCarrier),  # no 17token: registered where booked
    ({"booking_format": "easypost", "tracking_format": "easypost"}, EasyPostCarrier, EasyPostCarrier),
    ({"booking_format": "easypost", "tracking_format": "17track", "tracking_api_token": "t"}, EasyPostCarrier,
     SeventeenTrack),
])
def test_a_carrier_is_booked_by_its_booking_format_and_tracked_where_its_events_come_from(
        clients, carrier, booked_by, tracked_by):
    carrier = {"_id": "k1", "api_url": "http://127.0.0.1:9"} | carrier
    assert type(clients.carrier.provider(carrier)) is booked_by
    assert type(clients.carrier.tracker_provider(carrier)) is tracked_by


def test_17track_books_nothing():
    with pytest.raises(OutboundError) as refused:
        SeventeenTrack().book_shipment({"_id": "k1"}, {"fulfilment_id": "F1"})
    assert refused.value.retryable is False
