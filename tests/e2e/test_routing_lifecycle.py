"""Routing's second chances through the real pieces (HTTP in, RabbitMQ, the Dramatiq worker, the
MongoDB-wire server, the simulated WMS and carrier): backordered units that ship once stock
arrives or are cancelled with their money refunded after their merchant's wait (the clock
driven, never slept), a rule hold approved and routed (stock still applies) or rejected, a
warehouse at its daily capacity skipped, and a re-route recorded and replayable."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from adapters.seed import load_world
from documents import capacity
from services import timers
from tests import factories
from tests.e2e.test_lifecycle import deliver, fulfilment_in, pay, post_order, routed
from tests.helpers import eventually, get_order, http, order_in, stock_of

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]
PAYMENTS = {"Authorization": "Bearer test-payments"}
BIG_ORDERS_HELD = {"version": "review-big-1", "strategies": [
    {"name": "review-big", "when": {"min_order_value": "100"}, "action": "hold", "hold_reason": "order over 100"},
    {"name": "default"}]}


def adjust(api: str, sku: str, warehouse: str, kind: str, quantity: int) -> dict:
    r = http.post(f"{api}/v1/stock/adjustments", timeout=5, json={
        "sku": sku, "warehouse_id": warehouse, "kind": kind, "quantity": quantity, "reason": "supplier delivery"})
    assert r.status_code == 201, r.text
    return r.json()


def ship(api: str, wms, order_id: str, index: int) -> dict:
    f = fulfilment_in(api, order_id, "dispatched", index)
    wms.progress(f["id"])
    return eventually(lambda: (o := get_order(api, order_id))["fulfilments"][index]["status"] in
                      ("shipped", "in_transit", "delivered") and o, what=f"fulfilment {index} shipped")


def fire_until(order_id: str, now: datetime, attempts: int = 4) -> None:
    """Fire every timer of the order due by ``now`` (a fruitless backorder retry re-arms the next)."""
    for _ in range(attempts):
        due = get_order_raw(order_id)
        if due.get("due_at") is None or due["due_at"] > now:
            return
        timers.fire(order_id, now)


def get_order_raw(order_id: str) -> dict:
    from documents import orders  # the stored document, with its datetimes (the API gives strings)

    return orders.load(order_id)


def money(value) -> Decimal:
    return Decimal(str(value))


def test_a_part_backordered_order_ships_its_rest_after_an_inbound_adjustment(api, worker, seeded, wms):
    order_id = post_order(api, seeded, [("SKU-B", 5)])  # 5 ordered, 3 in stock (WH-EAST)
    order = routed(api, order_id)
    assert [(b["quantity"], b["amounts"]["goods"]) for b in order["routing"]["backordered"]] == [(2, "20.00")]
    assert order["due_timer"]["action"] == "retry_backorder"
    pay(api, order_id, order["amounts"]["payable"])
    order = ship(api, wms, order_id, 0)
    assert order["status"] == "awaiting_shipment" and order["shipment_status"] == "partially_shipped"

    adjust(api, "SKU-B", "WH-EAST", "inbound", 4)  # the waiting order is tried again at once
    second = fulfilment_in(api, order_id, "dispatched", 1)
    assert [(ln["sku"], ln["quantity"]) for ln in second["lines"]] == [("SKU-B", 2)]
    order = get_order(api, order_id)
    assert order["routing"]["backordered"] == [] and order["routing"]["state"] == "routed"
    assert sum(money(f["amounts"]["payable"]) for f in order["fulfilments"]) == money(order["amounts"]["payable"])
    ship(api, wms, order_id, 1)
    order = order_in(api, order_id, status="shipped", shipment_status="shipped")
    # the units leave stock right after the shipment is recorded (a step of its own): wait for it
    eventually(lambda: stock_of(api, "SKU-B", "WH-EAST") == {"on_hand": 2, "reserved": 0, "available": 2},
               what="both shipments out of stock")
    replayed = http.get(f"{api}/v1/orders/{order_id}/routing/replay", timeout=5).json()
    assert [(d["kind"], d["fulfilments"], d["same"]) for d in replayed["later"]] == \
        [("backorder_retry", [second["id"]], True)]


def test_a_backorder_waits_its_merchants_days_then_is_cancelled_with_a_partial_refund(api, worker, seeded, wms):
    load_world({"settings": {"timeouts": {"merchants": {"m1": {"backorder_cancel": "3d"}}}}})
    order_id = post_order(api, seeded, [("SKU-B", 5)])
    order = routed(api, order_id)
    pay(api, order_id, order["amounts"]["payable"])
    order = ship(api, wms, order_id, 0)
    since = datetime.fromisoformat(order["routing"]["backordered"][0]["since"])

    fire_until(order_id, since + timedelta(days=2, hours=23))  # still within the merchant's 3 days
    order = get_order(api, order_id)
    assert order["routing"]["backordered"][0]["quantity"] == 2 and order["after_sales"] == []
    fire_until(order_id, since + timedelta(days=3, seconds=1))
    order = get_order(api, order_id)
    assert order["routing"]["backordered"] == [] and order["status"] == "shipped"  # nothing waits: it shipped
    assert order["shipment_status"] == "shipped"
    assert "order.backorder_cancelled" in [e["event"] for e in order["timeline"]]
    (cancelled,) = order["routing"]["backorder_cancelled"]
    (case,) = order["after_sales"]  # its money is owed back, as for any cancellation
    assert (cancelled["quantity"], cancelled["refund_case"]) == (2, case["case_id"])
    assert (case["type"], case["status"], case["amount"], case["lines"], case["cause"], case["refund_via"]) == \
        ("refund_only", "awaiting_refund", "20.00", [], "cancellation", "payments")

    # the payment service pays it back where the money came from and says so, naming the case
    owed = http.get(f"{api}/v1/refunds", headers=PAYMENTS, timeout=5).json()["refunds"]
    assert [(o["case_id"], o["amount"]) for o in owed] == [(case["case_id"], "20.00")]
    r = http.post(f"{api}/v1/payments", headers=PAYMENTS, timeout=5, json={
        "order_id": order_id, "transaction_id": "re_backorder", "type": "refunded", "amount": "20.00",
        "after_sales_case": case["case_id"]})
    assert r.status_code == 202, r.text
    order = order_in(api, order_id, payment_status="partially_refunded")
    assert money(order["refunded_amount"]) == Decimal("20.00") and order["after_sales"][0]["status"] == "succeeded"
    assert order["due_timer"]["action"] == "auto_confirm_receipt"
    eventually(lambda: stock_of(api, "SKU-B", "WH-EAST") == {"on_hand": 0, "reserved": 0, "available": 0},
               what="the shipped units out of stock")


def test_a_wholly_backordered_cash_on_delivery_order_is_cancelled_after_the_wait(api, worker, seeded):
    adjust(api, "SKU-C", "WH-WEST", "stocktake", 0)  # none left anywhere
    order_id = post_order(api, seeded, [("SKU-C", 2)], payment_method="cod")
    order = routed(api, order_id)
    assert order["routing"]["state"] == "backordered" and order["fulfilments"] == []
    assert order["status"] == "awaiting_shipment" and order["due_timer"]["action"] == "retry_backorder"
    since = datetime.fromisoformat(order["routing"]["backordered"][0]["since"])
    fire_until(order_id, since + timedelta(days=7, seconds=1))  # the default wait: 7 days
    order = order_in(api, order_id, status="cancelled")  # nothing of it left to ship: cancelled whole
    assert order["after_sales"] == [] and order["payment_status"] == "unpaid"  # nothing was paid


def test_cash_on_delivery_collects_what_shipped_once_the_waiting_units_are_cancelled(api, worker, seeded, wms,
                                                                                      carrier):
    order_id = post_order(api, seeded, [("SKU-B", 5)], payment_method="cod")  # 3 placed, 2 wait
    order = routed(api, order_id)
    since = datetime.fromisoformat(order["routing"]["backordered"][0]["since"])
    fire_until(order_id, since + timedelta(days=7, seconds=1))
    order = get_order(api, order_id)
    assert [(c["quantity"], c.get("refund_case")) for c in order["routing"]["backorder_cancelled"]] == [(2, None)]
    assert order["after_sales"] == [] and order["status"] == "awaiting_shipment"  # nothing was paid yet
    order = deliver(api, wms, carrier, order_id)
    assert order["status"] == "shipped" and order["shipment_status"] == "delivered"
    payable = money(order["fulfilments"][0]["amounts"]["payable"])
    paid = order_in(api, order_id, payment_status="paid")  # the courier collected what shipped: all it owes
    assert money(paid["paid_amount"]) == payable == money(paid["amounts"]["payable"]) - Decimal("20.00")


def test_a_rule_hold_approved_is_routed_and_still_subject_to_stock(api, worker, seeded):
    assert http.put(f"{api}/v1/routing/rules", json=BIG_ORDERS_HELD, timeout=5).status_code == 200
    order_id = post_order(api, seeded, [("SKU-A", 20)], payment_method="cod")  # 200.00; 15 in stock
    held = order_in(api, order_id, status="on_hold")
    assert held["routing"]["reason"] == "order over 100" and held["fulfilments"] == []
    r = http.post(f"{api}/v1/orders/{order_id}/approve-hold", timeout=5)
    assert r.status_code == 200, r.text
    order = eventually(lambda: (o := get_order(api, order_id))["routing"]["state"] == "routed" and o,
                       what="routed after the approval")
    assert order["routing"]["approved_by"] == "operator:admin" and order["status"] == "awaiting_shipment"
    assert sorted((f["warehouse_id"], f["lines"][0]["quantity"]) for f in order["fulfilments"]) == \
        [("WH-EAST", 10), ("WH-WEST", 5)]  # stock still decides: 15 placed, 5 wait
    assert order["routing"]["backordered"][0]["quantity"] == 5
    decision = order["routing"]["decision"]
    assert decision["approved"] is True and decision["merchants"][0]["holds_skipped"] == ["review-big"]
    assert http.get(f"{api}/v1/orders/{order_id}/routing/replay", timeout=5).json()["same"] is True


def test_a_rejected_hold_ends_the_order_and_holds_nothing(api, worker, seeded):
    assert http.put(f"{api}/v1/routing/rules", json=BIG_ORDERS_HELD, timeout=5).status_code == 200
    order_id = post_order(api, seeded, [("SKU-A", 12)], payment_method="cod")
    order_in(api, order_id, status="on_hold")
    r = http.post(f"{api}/v1/orders/{order_id}/reject-hold", json={"reason": "fraud"}, timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert http.post(f"{api}/v1/orders/{order_id}/approve-hold", timeout=5).status_code == 409
    assert stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 10, "reserved": 0, "available": 10}


def test_a_warehouse_at_its_daily_capacity_is_skipped_until_a_cancel_frees_a_place(api, worker, db, wms, carrier):
    world = factories.world(wms.url, carrier.url)
    next(w for w in world["warehouses"] if w["id"] == "WH-EAST")["daily_capacity"] = 1
    load_world(world)
    first = post_order(api, factories, [("SKU-A", 1)], payment_method="cod")
    assert [f["warehouse_id"] for f in routed(api, first)["fulfilments"]] == ["WH-EAST"]
    second = post_order(api, factories, [("SKU-A", 1)], payment_method="cod")
    order = routed(api, second)
    assert [f["warehouse_id"] for f in order["fulfilments"]] == ["WH-WEST"]  # WH-EAST took its one today
    removed = order["routing"]["decision"]["merchants"][0]["attempts"][0]["removed"]
    assert {"warehouse_id": "WH-EAST", "removed_by": "capacity"} in removed
    today = capacity.day_of(datetime.fromisoformat(order["routing"]["routed_at"]))
    assert capacity.counts(["WH-EAST", "WH-WEST"], today) == {"WH-EAST": 1}
    http.post(f"{api}/v1/orders/{first}/cancel", timeout=5).raise_for_status()
    eventually(lambda: capacity.counts(["WH-EAST"], today) == {"WH-EAST": 0}, what="capacity given back")
    third = post_order(api, factories, [("SKU-A", 1)], payment_method="cod")
    assert [f["warehouse_id"] for f in routed(api, third)["fulfilments"]] == ["WH-EAST"]


def test_a_reroute_uses_the_current_rules_and_is_recorded_and_replayable(api, worker, seeded, wms):
    order_id = post_order(api, seeded, [("SKU-A", 4)], payment_method="cod")
    first = fulfilment_in(api, order_id, "dispatched")
    assert first["warehouse_id"] == "WH-EAST"
    rules = {"version": "after-first-2", "strategies": [{"name": "nearest", "scoring": {"tie_breakers": ["distance"]}}]}
    assert http.put(f"{api}/v1/routing/rules", json=rules, timeout=5).status_code == 200
    wms.send_event(first["id"], "short_picked")
    second = fulfilment_in(api, order_id, "dispatched", index=1)
    assert second["warehouse_id"] == "WH-WEST" and second["hold_tag"] == "R1"
    replayed = http.get(f"{api}/v1/orders/{order_id}/routing/replay", timeout=5).json()
    assert replayed["same"] is True and replayed["rules_version"] == "builtin-1"
    (later,) = replayed["later"]
    assert (later["kind"], later["failed"], later["fulfilments"], later["same"], later["rules_version"]) == \
        ("reroute", first["id"], [second["id"]], True, "after-first-2")
    assert later["stored"]["fulfilments"][0]["warehouse_id"] == "WH-WEST"
    order = get_order(api, order_id)
    assert order["routing"]["decisions"][0]["decision"]["excluded"] == ["WH-EAST"]
    eventually(lambda: stock_of(api, "SKU-A", "WH-EAST")["reserved"] == 0, what="the failed hold released")
    assert stock_of(api, "SKU-A", "WH-WEST") == {"on_hand": 5, "reserved": 4, "available": 1}
