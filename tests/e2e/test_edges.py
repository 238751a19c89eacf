"""The edges of input, end to end (issue 17, items 11-13): implausible dates are refused at the door
and no OverflowError reaches anyone; orders come only from configured channels; carriers book the
catalogue's weights; addresses keep what the customer wrote, with the subdivision code beside it."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from adapters.seed import load_world
from documents import inbox, orders
from tests.helpers import eventually, get_order, http

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]

SECRET = "whsec-edges"


def _nothing_stored(api: str) -> None:
    assert orders.collection().count_documents({}) == 0
    assert http.get(f"{api}/v1/orders", timeout=5).json()["orders"] == []


# --- 11. dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize("placed_at", ["9999-12-31T00:00:00+00:00", "1999-12-31T23:59:59Z"])
@pytest.mark.parametrize("method", ["online", "terms"])
def test_an_order_placed_outside_the_plausible_window_is_refused_naming_placed_at(api, seeded, placed_at, method):
    body = seeded.order([("SKU-A", 1)], payment_method=method, placed_at=placed_at)
    if method == "terms":
        body.update(b2b=True, payment={"method": "terms", "terms_days": 30, "po_number": "PO-1"})
    r = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_failed" and list(error["details"]) == ["placed_at"], error
    _nothing_stored(api)


def test_a_native_order_from_the_year_9999_is_refused_naming_placed_at(api, seeded, wms, carrier):
    world = seeded.world(wms.url, carrier.url)
    world["channels"].append({"id": "shopify", "format": "shopify", "merchant_id": "m1", "secret": SECRET})
    load_world(world)
    raw = json.dumps({
        "id": 820982911946154508, "name": "#9999", "email": "jon@example.com", "currency": "USD",
        "created_at": "9999-12-31T10:00:00-05:00", "financial_status": "paid",
        "line_items": [{"id": 1, "sku": "SKU-A", "quantity": 1, "price": "10.00", "title": "A"}],
        "shipping_address": {"first_name": "Jon", "last_name": "Snow", "address1": "1 Main St", "city": "New York",
                             "province": "New York", "province_code": "NY", "country_code": "US", "zip": "10001"},
    }).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
    r = http.post(f"{api}/v1/channels/shopify/orders", content=raw, timeout=5, headers={
        "Content-Type": "application/json", "X-Shopify-Hmac-Sha256": signature, "X-Shopify-Webhook-Id": "wh-9999",
        "X-Shopify-Topic": "orders/create"})
    assert r.status_code == 422, r.text
    assert list(r.json()["error"]["details"]) == ["canonical.placed_at"]  # the mapped order's field
    _nothing_stored(api)


@pytest.mark.parametrize("path, params, fields", [
    ("/v1/orders", {"placed_from": "0001-01-01T00:00:00Z"}, {"query.placed_from"}),
    ("/v1/orders", {"placed_to": "9999-12-31T23:59:59+00:00"}, {"query.placed_to"}),
    ("/v1/reports/orders-by-day", {"from": "0001-01-01", "to": "9999-12-31"}, {"query.from", "query.to"}),
    ("/v1/reports/by-region", {"from": "0001-01-01T00:00:00+05:00"}, {"query.from"}),
])
def test_query_times_no_datetime_can_step_from_are_a_clear_422(api, seeded, path, params, fields):
    r = http.get(f"{api}{path}", params=params, timeout=5)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_failed" and set(error["details"]) == fields, error
    assert all("between 1900-01-01 and 9000-01-01" in m for ms in error["details"].values() for m in ms)


@pytest.mark.parametrize("when", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+05:00", "1999-12-31T23:59:59Z"])
def test_an_event_dated_outside_the_plausible_window_is_a_clear_422_and_nothing_is_recorded(api, worker, seeded,
                                                                                             when):
    # Given a dispatched fulfilment
    order_id = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)], paid=True),
                         timeout=5).json()["order_id"]
    order = eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                       and o["fulfilments"][0]["status"] == "dispatched" and o, what="dispatched")
    f = order["fulfilments"][0]

    # When the payment service, the warehouse and the carrier report times no clock could mean
    # (9999-12-31T23:00-05:00 is past the last UTC time a datetime holds: it answered 500)
    answers = [
        http.post(f"{api}/v1/payments", timeout=5, headers={"Authorization": "Bearer test-payments"}, json={
            "order_id": order_id, "transaction_id": "tx-far", "type": "paid", "amount": "10.00", "occurred_at": when}),
        http.post(f"{api}/v1/wms/{f['warehouse_id']}/events", timeout=5,
                  headers={"Authorization": f"Bearer {seeded.TOKENS[f['warehouse_id']]}"},
                  json={"event_id": "e-far", "fulfilment_id": f["id"], "type": "accepted", "occurred_at": when}),
        http.post(f"{api}/v1/carriers/{f['carrier_id']}/events", timeout=5,
                  headers={"Authorization": f"Bearer {seeded.TOKENS[f['carrier_id']]}"},
                  json={"event_id": "c-far", "tracking_number": f["tracking_number"], "status": "in_transit",
                        "occurred_at": when}),
    ]

    # Then each is a 422 naming occurred_at, and none is recorded
    for r in answers:
        assert r.status_code == 422, r.text
        assert list(r.json()["error"]["details"]) == ["occurred_at"], r.text
    assert inbox.InboxEvent._get_collection().count_documents({}) == 0  # nothing kept as refused either
    # and none was sent: a good event posted after them is applied alone
    good = http.post(f"{api}/v1/wms/{f['warehouse_id']}/events", timeout=5,
                     headers={"Authorization": f"Bearer {seeded.TOKENS[f['warehouse_id']]}"},
                     json={"event_id": "e-near", "fulfilment_id": f["id"], "type": "accepted"})
    assert good.status_code == 202, good.text
    order = eventually(lambda: (o := get_order(api, order_id))["fulfilments"][0]["status"] == "accepted" and o,
                       what="the good event applied")
    assert [t.get("event_id") for t in order["fulfilments"][0]["tracking"]] == ["e-near"]
    assert "tx-far" not in [p["transaction_id"] for p in orders.load(order_id).get("payments", [])]


# --- 12. channels and parcels ---------------------------------------------------------------------


OPERATOR = {"Authorization": "Bearer test-operator"}


@pytest.mark.parametrize("channel", ["nonexistent", "shopify", "amazon"])
def test_an_order_for_a_channel_that_is_not_configured_is_refused_and_nothing_stored(api, seeded, channel):
    # Given a world whose only channel is "manual" (native format names are not channels by themselves)
    r = http.post(f"{api}/v1/channels/{channel}/orders", json=seeded.order([("SKU-A", 1)]), headers=OPERATOR,
                  timeout=5)
    assert r.status_code == 404, r.text
    error = r.json()["error"]
    assert error["code"] == "not_found" and repr(channel) in error["message"], error
    _nothing_stored(api)

    # And the configured channel still takes the same order
    assert http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)]), headers=OPERATOR,
                     timeout=5).status_code == 202


def test_a_carrier_booking_carries_the_catalogue_weight_and_a_single_units_dimensions(api, worker, seeded, wms,
                                                                                      carrier):
    # Given a catalogue that knows SKU-A's weight and packed size (not the old 500 g per unit)
    world = seeded.world(wms.url, carrier.url)
    sku_a = next(s for s in world["skus"] if s["sku"] == "SKU-A")
    sku_a.update(weight_grams=1234, dimensions_mm=[300, 200, 100])
    load_world(world)

    # When two units, then one, are ordered and dispatched
    booked = {}
    for units in (2, 1):
        order_id = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", units)], paid=True),
                             timeout=5).json()["order_id"]
        order = eventually(lambda oid=order_id: (o := get_order(api, oid))["fulfilments"]
                           and o["fulfilments"][0]["status"] == "dispatched" and o, what="dispatched")
        [f] = order["fulfilments"]
        booked[units] = carrier.shipments[f["id"]].request["parcels"]

    # Then the carrier was asked to carry the catalogue's weight, and a single unit's dimensions
    assert booked[2] == [{"weight_grams": 2468}]
    assert booked[1] == [{"weight_grams": 1234, "length_mm": 300, "width_mm": 200, "height_mm": 100}]


# --- 13. addresses as written ---------------------------------------------------------------------


HANGZHOU = {"name": "张三", "phone": "13800138000", "country": "CN", "region": "浙江省", "city": "杭州市",
            "district": "西湖区", "postcode": "310012", "lines": ["文三路 138 号东方通信大厦 5 楼"]}


def test_a_chinese_address_is_kept_as_written_with_its_code_and_sent_so_to_the_wms_and_the_carrier(
        api, worker, seeded, wms, carrier):
    # Given warehouses that speak Qimen (deliveryorder.create's receiverInfo)
    world = seeded.world(wms.url, carrier.url)
    for warehouse in ("WH-EAST", "WH-WEST"):
        seeded.speaks_qimen(world, warehouse)
    load_world(world)

    # When a phone order is entered with the address as the customer gave it (province in full)
    r = http.post(f"{api}/v1/channels/manual/orders", timeout=5,
                  json=seeded.order([("SKU-A", 1)], paid=True, shipping_address=HANGZHOU))
    assert r.status_code == 202, r.text
    order = eventually(lambda: (o := get_order(api, r.json()["order_id"]))["fulfilments"]
                       and all(f["status"] == "dispatched" for f in o["fulfilments"]) and o, what="dispatched")

    # Then the address is stored as written, with its ISO 3166-2 code beside it
    address = order["address"]
    assert (address["country"], address["region"], address["city"], address["district"]) == \
        ("CN", "浙江省", "杭州市", "西湖区")
    assert address["region_code"] == "CN-ZJ"
    assert orders.collection().find_one({"_id": order["order_id"]})["address"]["region"] == "浙江省"

    # And the warehouse's delivery order and the carrier's booking carry the province as written
    for f in order["fulfilments"]:
        receiver = wms.delivery_orders[f["id"]].request["deliveryOrder"]["receiverInfo"]
        assert (receiver["province"], receiver["city"], receiver["area"]) == ("浙江省", "杭州市", "西湖区")
        ship_to = carrier.shipments[f["id"]].request["ship_to"]
        assert (ship_to["region"], ship_to["city"], ship_to["district"]) == ("浙江省", "杭州市", "西湖区")


def test_routing_rules_read_the_code_of_the_written_province_and_a_code_of_another_country_is_refused(
        api, worker, seeded, wms, carrier):
    # Given a rule holding orders to Zhejiang for review, written by its code
    world = seeded.world(wms.url, carrier.url)
    world["routing_rules"] = {"version": "zj-1", "strategies": [
        {"name": "zhejiang", "when": {"destinations": ["CN-ZJ"]}, "action": "hold", "hold_reason": "zhejiang review"},
        {"name": "default"}]}
    load_world(world)

    # When an order to 浙江省 comes in, the rule holds it (it reads region_code, not the written name)
    order_id = http.post(f"{api}/v1/channels/manual/orders", timeout=5,
                         json=seeded.order([("SKU-A", 1)], paid=True, shipping_address=HANGZHOU)).json()["order_id"]
    held = eventually(lambda: (o := get_order(api, order_id))["routing"]["state"] == "held" and o, what="held")
    assert held["address"]["region"] == "浙江省" and "zhejiang review" in held["routing"]["reason"]

    # And a code that is not a subdivision of the address's country is a 422 naming it
    r = http.post(f"{api}/v1/channels/manual/orders", timeout=5, json=seeded.order(
        [("SKU-A", 1)], shipping_address={**HANGZHOU, "region_code": "US-NY"}))
    assert r.status_code == 422 and list(r.json()["error"]["details"]) == ["shipping_address.region_code"], r.text
