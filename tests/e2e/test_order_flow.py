"""One order end to end through the real pieces: HTTP in, RabbitMQ, a Dramatiq worker, the
MongoDB-wire server, and simulated WMS and carrier servers on loopback, out and back."""
from __future__ import annotations

import pytest

from tests.helpers import eventually, get_order, order_in, stock_of, http

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]



def test_paid_order_flows_to_delivered_with_stock_checked_at_each_step(api, worker, seeded, wms, carrier):
    # Given an online order for 2 units of SKU-A (10 in WH-EAST)
    response = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 2)]), timeout=5)
    assert response.status_code == 202, response.text
    order_id = response.json()["order_id"]

    # When it is routed, stock is reserved and the order waits for payment
    order = order_in(api, order_id, status="pending_payment")
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed")
    order = get_order(api, order_id)
    assert [(f["warehouse_id"], f["status"]) for f in order["fulfilments"]] == [("WH-EAST", "reserved")]
    assert order["amounts"]["payable"] == "20.00"
    assert stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 10, "reserved": 2, "available": 8}
    assert wms.calls_to("POST") == []  # nothing goes to the warehouse before payment

    # When it is paid, the carrier books a waybill and the WMS gets the delivery order once
    paid = http.post(f"{api}/v1/payments", json={"order_id": order_id, "transaction_id": "tx-1", "type": "paid",
                                                  "amount": "20.00"}, timeout=5)
    assert paid.status_code == 202, paid.text
    order = eventually(lambda: (o := get_order(api, order_id))["fulfilments"][0]["status"] == "dispatched" and o,
                       what="dispatched")
    assert order["status"] == "awaiting_shipment" and order["payment_status"] == "paid"
    fulfilment = order["fulfilments"][0]
    assert fulfilment["tracking_number"] and fulfilment["wms_order_id"]
    assert list(wms.keys) == [fulfilment["id"]]

    # When the warehouse picks, packs and ships, stock leaves the warehouse
    wms.progress(fulfilment["id"])
    order = order_in(api, order_id, status="shipped", shipment_status="shipped")
    # (the stock update follows the order's own update in the same message: it lands just after)
    eventually(lambda: stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 8, "reserved": 0, "available": 8},
               what="stock shipped")

    # When the carrier scans it through to delivery, the order is delivered
    eventually(lambda: fulfilment["tracking_number"] in carrier.trackers, what="tracker registered")
    carrier.track(fulfilment["tracking_number"])
    order = order_in(api, order_id, shipment_status="delivered")
    assert order["fulfilments"][0]["status"] == "delivered"
    events = [e["event"] for e in order["timeline"]]
    assert events[0] == "received" and "payment.paid" in events and "fulfilment.delivered" in events
    assert stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 8, "reserved": 0, "available": 8}


def test_same_channel_order_posted_twice_is_one_order_with_stock_reserved_once(api, worker, seeded):
    body = seeded.order([("SKU-B", 3)], payment_method="cod")
    first = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5)
    second = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5)
    assert first.status_code == 202 and second.status_code == 200
    assert second.json() == {"order_id": first.json()["order_id"], "duplicate": True}
    eventually(lambda: get_order(api, first.json()["order_id"])["routing"]["state"] == "routed", what="routed")
    listed = http.get(f"{api}/v1/orders", params={"channel": "manual"}, timeout=5).json()["orders"]
    assert [o["order_id"] for o in listed] == [first.json()["order_id"]]
    assert stock_of(api, "SKU-B", "WH-EAST") == {"on_hand": 3, "reserved": 3, "available": 0}


def test_malformed_and_invalid_orders_are_refused_and_nothing_is_stored(api, worker, seeded):
    bad_json = http.post(f"{api}/v1/channels/manual/orders", content=b"{not json",
                          headers={"Content-Type": "application/json"}, timeout=5)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "malformed_json"
    body = seeded.order([("SKU-A", 0)])
    body["currency"] = "usd"
    del body["shipping_address"]["country"]
    invalid = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5)
    assert invalid.status_code == 422
    assert set(invalid.json()["error"]["details"]) == {"currency", "shipping_address.country", "lines.0.quantity"}
    assert http.get(f"{api}/v1/orders", timeout=5).json()["orders"] == []


def test_wms_failing_twice_is_retried_and_the_fulfilment_dispatched_once(api, worker, seeded, wms):
    wms.fail_next(2, status=500)
    response = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-C", 1)], payment_method="cod"),
                          timeout=5)
    order_id = response.json()["order_id"]
    order = eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                       and o["fulfilments"][0]["status"] == "dispatched" and o, what="dispatched")
    fid = order["fulfilments"][0]["id"]
    assert order["fulfilments"][0]["warehouse_id"] == "WH-WEST"
    assert len(wms.calls_to("POST", "delivery-orders")) == 3  # two 500s, then the one that landed
    assert wms.keys == {fid: 3} and list(wms.delivery_orders) == [fid]
