"""At-least-once delivery: every message reaches its actor twice (tests/service/conftest.py), and
each effect happens once: stock reserved once, a payment recorded once, stock shipped once, one
delivery order per fulfilment at the warehouse; and stock and money still add up."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from adapters import intake
from documents import inbox, invariants, orders, stock
from tests import factories

pytestmark = pytest.mark.service


def stock_rows(*skus: str) -> dict[str, dict]:
    return {row["_id"]: row for sku in skus for row in stock.levels(sku)}


def routed(stub, lines, **order) -> dict:
    """An accepted order, routed and (when paid) dispatched, with every message delivered twice."""
    accepted = intake.accept_order("manual", factories.order(lines, **order))
    stub.settle()
    doc = orders.load(accepted.id)
    assert doc["routing"]["state"] == "routed", doc["routing"]
    return doc


def test_process_order_delivered_twice_reserves_the_stock_once(stub):
    before = stock_rows("SKU-A", "SKU-B")
    doc = routed(stub, [("SKU-A", 2), ("SKU-B", 1)], paid=True)

    assert stub.deliveries("process_order") == 2
    after = stock_rows("SKU-A", "SKU-B")
    reserved = {sku: sum(r["reserved"] for r in after.values() if r["sku"] == sku) for sku in ("SKU-A", "SKU-B")}
    assert reserved == {"SKU-A": 2, "SKU-B": 1}
    assert sorted(key for r in after.values() for key in r.get("holds", {})) == \
        [stock.hold_key(doc["_id"], 1), stock.hold_key(doc["_id"], 2)]  # one hold per line
    assert {k: r["on_hand"] for k, r in after.items()} == {k: r["on_hand"] for k, r in before.items()}
    assert all(r["available"] == r["on_hand"] - r["reserved"] for r in after.values())
    # its dispatches were delivered twice as well: one delivery order per fulfilment
    fulfilments = sorted(f["id"] for f in doc["fulfilments"])
    assert fulfilments and stub.deliveries("dispatch_fulfilment") >= 2
    assert sorted(stub.parties.delivery_orders) == fulfilments
    assert {f["status"] for f in doc["fulfilments"]} == {"dispatched"}
    assert invariants.check_all() == []


def test_a_payment_notice_delivered_twice_records_one_payment(stub):
    doc = routed(stub, [("SKU-A", 1)], paid=False)
    assert doc["payment_status"] == "unpaid" and stub.parties.delivery_orders == []  # waits for the money
    notice = {"order_id": doc["_id"], "transaction_id": "tx-twice", "type": "paid", "amount": str(doc["payable"]),
              "currency": "USD", "occurred_at": datetime.now(timezone.utc)}

    accepted = intake.accept_event("payment", "psp", "tx-twice:paid", notice, order_id=doc["_id"])
    stub.settle()

    assert stub.deliveries("apply_payment") == 2
    doc = orders.load(doc["_id"])
    assert [(p["transaction_id"], p["type"]) for p in doc["payments"]] == [("tx-twice", "paid")]
    assert doc["payment_status"] == "paid" and "refund_due" not in (doc.get("flags") or [])
    assert [p["kind"] for p in doc["papers"]].count("receipt") == 1
    assert inbox.load(accepted.id) is None  # applied: the order records it, nothing was refused
    assert sorted(stub.parties.delivery_orders) == sorted(f["id"] for f in doc["fulfilments"])
    assert invariants.check_all() == []


def test_a_shipped_event_delivered_twice_takes_the_stock_off_the_shelf_once(stub):
    doc = routed(stub, [("SKU-A", 3)], paid=True)
    (f,) = doc["fulfilments"]
    on_shelf = stock_rows("SKU-A")[stock.stock_id("SKU-A", f["warehouse_id"])]
    event = {"event_id": "wms-ship-1", "fulfilment_id": f["id"], "type": "shipped", "raw_type": "SHIPPED",
             "occurred_at": datetime.now(timezone.utc), "tracking_number": f["tracking_number"],
             "carrier_id": f["carrier_id"], "final": True, "packages": [],
             "lines": [{"line_no": 1, "sku": "SKU-A", "quantity": 3}]}

    accepted = intake.accept_event("wms", f["warehouse_id"], "wms-ship-1", event, True, order_id=doc["_id"])
    stub.settle()

    assert stub.deliveries("apply_wms_event") == 2
    shelf = stock_rows("SKU-A")[stock.stock_id("SKU-A", f["warehouse_id"])]
    assert (shelf["on_hand"], shelf["reserved"]) == (on_shelf["on_hand"] - 3, on_shelf["reserved"] - 3)
    assert shelf.get("holds", {}) == {}
    (f,) = orders.load(doc["_id"])["fulfilments"]
    assert f["status"] == "shipped"
    assert [t["event_id"] for t in f["tracking"] if t.get("event_id")] == ["wms-ship-1"]
    assert inbox.load(accepted.id) is None  # applied: the order records it, nothing was refused
    assert {number for number, _ in stub.parties.trackers} == {f["tracking_number"]}  # idempotent at the carrier
    assert invariants.check_all() == []


def shipped_event(f: dict, event_id: str) -> dict:
    return {"event_id": event_id, "fulfilment_id": f["id"], "type": "shipped", "raw_type": "SHIPPED",
            "occurred_at": datetime.now(timezone.utc), "tracking_number": f["tracking_number"],
            "carrier_id": f["carrier_id"], "final": True, "packages": [],
            "lines": [{"line_no": 1, "sku": "SKU-A", "quantity": 1}]}


def test_the_shipped_event_registers_its_parcel_with_the_carrier_itself_no_message_of_its_own(stub):
    doc = routed(stub, [("SKU-A", 1)], paid=True)
    (f,) = doc["fulfilments"]

    intake.accept_event("wms", f["warehouse_id"], "wms-ship-2", shipped_event(f, "wms-ship-2"), True, order_id=doc["_id"])
    stub.settle()

    assert (f["tracking_number"], f["id"]) in stub.parties.trackers
    assert stub.deliveries("register_tracking") == 0  # registered by the event's own actor


def test_a_registration_that_fails_is_left_to_its_own_message_which_retries_it(stub, monkeypatch):
    from services.ports import OutboundError

    doc = routed(stub, [("SKU-A", 1)], paid=True)
    (f,) = doc["fulfilments"]
    refused = []
    register = stub.parties.register_tracker

    def carrier_down_once(carrier, tracking_number, fulfilment_id):
        if not refused:  # the carrier's API is down for the event's own attempt
            refused.append(tracking_number)
            raise OutboundError(carrier["_id"], "503 from the carrier", retryable=True)
        register(carrier, tracking_number, fulfilment_id)

    monkeypatch.setattr(stub.parties, "register_tracker", carrier_down_once)
    intake.accept_event("wms", f["warehouse_id"], "wms-ship-3", shipped_event(f, "wms-ship-3"), True, order_id=doc["_id"])
    stub.settle()

    assert refused == [f["tracking_number"]]
    assert stub.deliveries("register_tracking") >= 1  # the deferred registration, on its own message
    assert (f["tracking_number"], f["id"]) in stub.parties.trackers
    assert orders.load(doc["_id"])["fulfilments"][0]["status"] == "shipped"  # the event itself was applied once
