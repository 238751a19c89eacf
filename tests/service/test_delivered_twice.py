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
    # it dispatched them itself, and was delivered twice: one delivery order per fulfilment
    fulfilments = sorted(f["id"] for f in doc["fulfilments"])
    assert fulfilments and stub.deliveries("dispatch_fulfilment") == 0
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
    assert stub.deliveries("dispatch_fulfilment") == 0  # dispatched by the payment's own actor
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


# --- dispatch in the actor that makes the order ready (services.dispatch.dispatch_reserved) -------

def test_a_paid_order_is_dispatched_by_process_order_itself_one_delivery_order_per_fulfilment(stub):
    doc = routed(stub, [("SKU-B", 1), ("SKU-C", 2)], paid=True)  # WH-EAST only, WH-WEST only: two fulfilments

    fulfilments = sorted(f["id"] for f in doc["fulfilments"])
    assert len(fulfilments) == 2 and {f["status"] for f in doc["fulfilments"]} == {"dispatched"}
    assert stub.deliveries("process_order") == 2 and stub.deliveries("dispatch_fulfilment") == 0
    assert sorted(stub.parties.delivery_orders) == fulfilments  # the replay found them dispatched
    assert sorted(stub.parties.bookings) == fulfilments
    assert {f["id"]: f["wms_order_id"] for f in doc["fulfilments"]} == {fid: f"WMS-{fid}" for fid in fulfilments}
    # both recorded by one guarded update after the last call: the second decided on the order as the first left it
    assert sorted(p["ref"] for p in doc["papers"] if p["kind"] == "shipping_note") == fulfilments
    dispatches = [e for e in orders.load(doc["_id"])["timeline"] if e["event"] == "fulfilment.dispatch"]
    assert len(dispatches) == 2 and dispatches[0]["at"] == dispatches[1]["at"]
    assert invariants.check_all() == []


def test_a_process_that_is_not_a_worker_leaves_the_dispatches_to_messages(stub):
    # Given a process wired as the API is (no inline dispatch: no HTTP request waits on a warehouse)
    from services import ports

    ports.allow_inline_dispatch(False)  # put back by the stub fixture
    doc = routed(stub, [("SKU-A", 1)], paid=False)
    notice = {"order_id": doc["_id"], "transaction_id": "tx-api", "type": "paid", "amount": str(doc["payable"]),
              "currency": "USD", "occurred_at": datetime.now(timezone.utc)}

    # When its payment makes the order ready to ship
    intake.accept_event("payment", "psp", "tx-api:paid", notice, order_id=doc["_id"])
    stub.settle()

    # Then the fulfilment went as a message (one per delivery of the payment, each delivered twice),
    # and was dispatched once
    fulfilments = sorted(f["id"] for f in doc["fulfilments"])
    assert stub.deliveries("dispatch_fulfilment") >= 2
    assert sorted(stub.parties.delivery_orders) == fulfilments
    assert {f["status"] for f in orders.load(doc["_id"])["fulfilments"]} == {"dispatched"}


def test_a_dispatch_the_wms_fails_once_is_left_to_its_message_which_dispatches_it(stub, monkeypatch):
    from services.ports import OutboundError

    failed = []
    create = stub.parties.create_delivery_order

    def wms_down_once(warehouse, payload):
        if not failed:  # the WMS is down for process_order's own attempt (after its in-process retries)
            failed.append(payload["fulfilment_id"])
            raise OutboundError(warehouse["_id"], "HTTP 503", 503, retryable=True)
        return create(warehouse, payload)

    monkeypatch.setattr(stub.parties, "create_delivery_order", wms_down_once)
    doc = routed(stub, [("SKU-C", 1)], paid=True)

    (f,) = doc["fulfilments"]
    assert failed == [f["id"]]
    assert stub.deliveries("dispatch_fulfilment") == 2  # the deferred dispatch, its message delivered twice
    assert stub.parties.delivery_orders == [f["id"]]  # one delivery order, by the message
    assert set(stub.parties.bookings) == {f["id"]}  # booked again by the message: idempotent at the carrier
    assert (f["status"], f["wms_order_id"], f.get("error")) == ("dispatched", f"WMS-{f['id']}", None)
    assert invariants.check_all() == []


def test_a_dispatch_the_wms_refuses_is_recorded_as_failed_in_place_and_an_operator_retries_it(stub, monkeypatch):
    from services import commands
    from services.ports import OutboundError

    create = stub.parties.create_delivery_order
    refusing = [True]

    def wms_refuses(warehouse, payload):
        if refusing[0]:
            raise OutboundError(warehouse["_id"], "HTTP 422: unknown SKU", 422, retryable=False)
        return create(warehouse, payload)

    monkeypatch.setattr(stub.parties, "create_delivery_order", wms_refuses)
    doc = routed(stub, [("SKU-C", 1)], paid=True)

    (f,) = doc["fulfilments"]
    assert (f["status"], f["error"]) == ("dispatch_failed", "WH-WEST: HTTP 422: unknown SKU")
    assert stub.deliveries("dispatch_fulfilment") == 0 and stub.parties.delivery_orders == []

    refusing[0] = False
    commands.retry_dispatch(f["id"], "ops@example.com")
    stub.settle()
    (f,) = orders.load(doc["_id"])["fulfilments"]
    assert f["status"] == "dispatched" and stub.parties.delivery_orders == [f["id"]]
    assert invariants.check_all() == []


def test_a_fulfilment_held_for_an_order_merge_is_not_dispatched_the_others_are(stub):
    from adapters.seed import load_world

    load_world({"merchants": [{"id": "m1", "name": "Acme", "merge_orders": True, "merge_window_minutes": 30}]})

    doc = routed(stub, [("SKU-C", 1), ("SKU-M2", 1)], paid=True)  # m1 merges orders, m2 does not

    by_merchant = {f["merchant_id"]: f for f in doc["fulfilments"]}
    assert by_merchant["m1"]["status"] == "reserved" and by_merchant["m1"]["merge"]["until"]
    assert by_merchant["m2"]["status"] == "dispatched"
    assert stub.parties.delivery_orders == [by_merchant["m2"]["id"]]
    assert stub.deliveries("process_order") == 2 and stub.deliveries("dispatch_fulfilment") == 0
    assert invariants.check_all() == []


def test_dispatches_not_begun_within_the_senders_budget_go_as_messages(stub, monkeypatch):
    from services import dispatch

    monkeypatch.setattr(dispatch, "INLINE_BUDGET", -1.0)  # spent before the first: each goes as a message
    doc = routed(stub, [("SKU-B", 1), ("SKU-C", 2)], paid=True)

    fulfilments = sorted(f["id"] for f in doc["fulfilments"])
    assert len(fulfilments) == 2 and {f["status"] for f in doc["fulfilments"]} == {"dispatched"}
    # a message each, delivered twice (and again from process_order's second delivery, when that came first)
    assert stub.deliveries("dispatch_fulfilment") in (4, 8)
    assert sorted(stub.parties.delivery_orders) == fulfilments
    assert invariants.check_all() == []
