"""An order's whole life through the real pieces: payments, timers (fired with an explicit clock,
never by sleeping), cancellations with WMS intercepts, after-sales, B2B terms, re-routing."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from services import timers
from tests.helpers import eventually, get_order, order_in, stock_of, http

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]



def post_order(api, seeded, lines, **kw) -> str:
    response = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order(lines, **kw), timeout=5)
    assert response.status_code == 202, response.text
    return response.json()["order_id"]


def routed(api, order_id) -> dict:
    return eventually(lambda: (o := get_order(api, order_id))["routing"]["state"] != "received" and o, what="routed")


def pay(api, order_id, amount, tx="tx"):
    r = http.post(f"{api}/v1/payments", json={"order_id": order_id, "transaction_id": f"{tx}-{order_id}",
                                               "type": "paid", "amount": amount}, timeout=5)
    assert r.status_code == 202, r.text


def fulfilment_in(api, order_id, status, index=0) -> dict:
    return eventually(lambda: len((o := get_order(api, order_id))["fulfilments"]) > index
                      and o["fulfilments"][index]["status"] == status and o["fulfilments"][index],
                      what=f"fulfilment {index} {status}")


def deliver(api, wms, carrier, order_id) -> dict:
    """Drive a dispatched single-fulfilment order through the simulated WMS and carrier."""
    f = fulfilment_in(api, order_id, "dispatched")
    wms.progress(f["id"])
    order_in(api, order_id, status="shipped")
    eventually(lambda: f["tracking_number"] in carrier.trackers, what="tracker")
    carrier.track(f["tracking_number"])
    return order_in(api, order_id, shipment_status="delivered")


def at(iso: str, **delta) -> datetime:
    return datetime.fromisoformat(iso) + timedelta(**delta)


def test_unpaid_order_is_cancelled_after_timeout_once_and_its_stock_released(api, worker, seeded):
    order_id = post_order(api, seeded, [("SKU-A", 3)])
    order = routed(api, order_id)
    assert stock_of(api, "SKU-A", "WH-EAST")["reserved"] == 3
    assert order["due_timer"]["action"] == "cancel_unpaid"
    assert not timers.fire(order_id, at(order["placed_at"], minutes=29))  # not yet due
    assert timers.fire(order_id, at(order["placed_at"], minutes=31))
    assert not timers.fire(order_id, at(order["placed_at"], minutes=32))  # fired exactly once
    order = get_order(api, order_id)
    assert order["status"] == "cancelled" and order["fulfilments"][0]["status"] == "cancelled"
    assert stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 10, "reserved": 0, "available": 10}
    assert [e["event"] for e in order["timeline"]].count("timer.expire_unpaid") == 1


def test_unpaid_timer_does_nothing_when_the_order_was_paid_in_time(api, worker, seeded):
    order_id = post_order(api, seeded, [("SKU-A", 1)])
    order = routed(api, order_id)
    pay(api, order_id, order["amounts"]["payable"])
    fulfilment_in(api, order_id, "dispatched")
    assert timers.due_orders(at(order["placed_at"], minutes=31)) == []
    assert not timers.fire(order_id, at(order["placed_at"], minutes=31))
    assert get_order(api, order_id)["status"] == "awaiting_shipment"


def test_two_schedulers_sweeping_at_once_cancel_once(api, worker, seeded):
    order_id = post_order(api, seeded, [("SKU-B", 2)])
    order = routed(api, order_id)
    now = at(order["placed_at"], minutes=45)
    results, barrier = [], threading.Barrier(2)

    def sweep():
        barrier.wait()
        results.extend(timers.fire(o, now) for o in timers.due_orders(now))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results.count(True) == 1  # the other sweep found nothing due, or lost the guarded update
    assert stock_of(api, "SKU-B", "WH-EAST") == {"on_hand": 3, "reserved": 0, "available": 3}


def test_paid_shipped_delivered_order_is_auto_confirmed_then_closed(api, worker, seeded, wms, carrier):
    order_id = post_order(api, seeded, [("SKU-A", 1)])
    pay(api, order_id, routed(api, order_id)["amounts"]["payable"])
    order = deliver(api, wms, carrier, order_id)
    assert order["status"] == "shipped" and order["due_timer"]["action"] == "auto_confirm_receipt"
    assert not timers.fire(order_id, at(order["shipped_at"], days=6))
    assert timers.fire(order_id, at(order["shipped_at"], days=7, seconds=1))
    order = get_order(api, order_id)
    assert order["status"] == "completed" and order["due_timer"]["action"] == "close_after_sales_window"
    assert timers.fire(order_id, at(order["completed_at"], days=15, seconds=1))
    assert get_order(api, order_id)["status"] == "closed"


def test_cancel_after_dispatch_waits_for_the_wms_intercept_then_releases_stock(api, worker, seeded, wms):
    order_id = post_order(api, seeded, [("SKU-C", 2)], payment_method="cod")
    f = fulfilment_in(api, order_id, "dispatched")
    response = http.post(f"{api}/v1/orders/{order_id}/cancel", timeout=5)
    assert response.status_code == 200 and response.json()["cancel_requested"] is True
    order = order_in(api, order_id, status="cancelled")
    assert order["fulfilments"][0]["status"] == "cancelled"
    assert wms.delivery_orders[f["id"]].state == "cancelled"
    # the release follows the cancellation (a step of its own): wait for it, then it is exact
    eventually(lambda: stock_of(api, "SKU-C", "WH-WEST")["reserved"] == 0, what="stock released")
    assert stock_of(api, "SKU-C", "WH-WEST") == {"on_hand": 8, "reserved": 0, "available": 8}


def test_cancel_after_shipping_is_refused_with_the_allowed_commands(api, worker, seeded, wms, carrier):
    order_id = post_order(api, seeded, [("SKU-A", 1)], payment_method="cod")
    deliver(api, wms, carrier, order_id)
    response = http.post(f"{api}/v1/orders/{order_id}/cancel", timeout=5)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["details"]["current"] == "shipped" and "confirm_receipt" in error["details"]["allowed"]


def test_return_with_restock_then_refund_partially_refunds_the_order(api, worker, seeded, wms, carrier):
    order_id = post_order(api, seeded, [("SKU-A", 2)])
    pay(api, order_id, routed(api, order_id)["amounts"]["payable"])
    deliver(api, wms, carrier, order_id)
    assert stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 8, "reserved": 0, "available": 8}
    case = http.post(f"{api}/v1/orders/{order_id}/after-sales", timeout=5,
                      json={"type": "return_refund", "amount": "10.00", "lines": [{"line_no": 1, "quantity": 1}]})
    assert case.status_code == 201 and case.json()["status"] == "pending_review"
    case_id = case.json()["case_id"]
    assert http.post(f"{api}/v1/after-sales/{case_id}/approve", timeout=5).json()["status"] == "awaiting_return"
    received = http.post(f"{api}/v1/after-sales/{case_id}/return-received", json={"condition": "resaleable"},
                          timeout=5)
    assert received.json()["status"] == "awaiting_refund"
    assert stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 9, "reserved": 0, "available": 9}
    assert http.post(f"{api}/v1/after-sales/{case_id}/refund", timeout=5).json()["status"] == "succeeded"
    order = get_order(api, order_id)
    assert order["payment_status"] == "partially_refunded" and order["after_sales_status"] == "succeeded"
    fid = order["fulfilments"][0]["id"]
    assert [p["number"] for p in order["papers"]] == [f"RC-{order_id}", f"SN-{fid}", f"RS-{case_id}", f"RF-{case_id}"]
    slip = http.get(f"{api}/v1/orders/{order_id}/papers/RF-{case_id}", timeout=5)
    assert slip.headers["content-type"].startswith("text/html")
    assert "Refund slip" in slip.text and "10.00 USD" in slip.text and "SKU-A" in slip.text


def test_two_after_sales_cases_on_one_order_and_a_full_refund_closes_it(api, worker, seeded, wms, carrier):
    order_id = post_order(api, seeded, [("SKU-A", 2)])
    pay(api, order_id, routed(api, order_id)["amounts"]["payable"])
    deliver(api, wms, carrier, order_id)
    ids = []
    for _ in range(2):
        r = http.post(f"{api}/v1/orders/{order_id}/after-sales", timeout=5,
                       json={"type": "refund_only", "amount": "10.00", "reason": "late"})
        assert r.status_code == 201, r.text
        ids.append(r.json()["case_id"])
    too_much = http.post(f"{api}/v1/orders/{order_id}/after-sales", timeout=5,
                          json={"type": "refund_only", "amount": "0.01"})
    # a well-formed request the order's state forbids (more than was paid is open): 409, what it conflicts with
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "refund_exceeds_paid", too_much.text
    for case_id in ids:
        assert http.post(f"{api}/v1/after-sales/{case_id}/approve", timeout=5).status_code == 200
        assert http.post(f"{api}/v1/after-sales/{case_id}/refund", timeout=5).status_code == 200
    order = get_order(api, order_id)
    assert order["payment_status"] == "refunded" and order["status"] == "closed"
    assert [c["status"] for c in order["after_sales"]] == ["succeeded", "succeeded"]


def test_exchange_ships_the_replacement_as_a_new_fulfilment(api, worker, seeded, wms, carrier):
    order_id = post_order(api, seeded, [("SKU-A", 1)], payment_method="cod")
    deliver(api, wms, carrier, order_id)
    case_id = http.post(f"{api}/v1/orders/{order_id}/after-sales", timeout=5,
                         json={"type": "exchange", "lines": [{"line_no": 1, "quantity": 1}]}).json()["case_id"]
    http.post(f"{api}/v1/after-sales/{case_id}/approve", timeout=5).raise_for_status()
    r = http.post(f"{api}/v1/after-sales/{case_id}/return-received", json={"condition": "damaged"}, timeout=5)
    assert r.json()["status"] == "exchange_shipping"
    listed = eventually(lambda: http.get(f"{api}/v1/orders", params={"channel": "exchange"}).json()["orders"],
                        what="exchange order")
    replacement = listed[0]["order_id"]
    deliver(api, wms, carrier, replacement)
    order = eventually(lambda: (o := get_order(api, order_id))["after_sales"][0]["status"] == "succeeded" and o,
                       what="exchange case succeeded")
    assert order["after_sales"][0]["exchange_order_id"] == replacement
    assert stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 8, "reserved": 0, "available": 8}  # damaged: no restock


def test_b2b_terms_order_ships_before_payment(api, worker, seeded, wms, carrier):
    body_extra = {"b2b": True}
    order_id = post_order(api, seeded, [("SKU-M2", 5)], payment_method="terms", **body_extra)
    order = deliver(api, wms, carrier, order_id)
    assert order["payment_status"] == "unpaid" and order["fulfilments"][0]["warehouse_id"] == "WH-M2"
    due = datetime.fromisoformat(order["payment"]["due_at"])
    assert due == datetime.fromisoformat(order["placed_at"]) + timedelta(days=30) and order["payment_overdue"] is False
    pay(api, order_id, order["amounts"]["payable"], tx="wire")
    paid = order_in(api, order_id, payment_status="paid")
    assert paid["status"] == "shipped" and paid["payment_overdue"] is False


def test_terms_order_unpaid_past_its_due_date_is_flagged_overdue(api, worker, seeded):
    placed = (datetime.now(timezone.utc) - timedelta(days=45)).isoformat()
    order_id = post_order(api, seeded, [("SKU-M2", 1)], payment_method="terms", b2b=True, placed_at=placed)
    order = routed(api, order_id)
    assert order["payment_status"] == "unpaid" and order["payment_overdue"] is True
    assert order["fulfilments"][0]["status"] in ("reserved", "dispatched")  # terms orders ship before payment


def test_short_picked_fulfilment_is_rerouted_excluding_that_warehouse(api, worker, seeded, wms):
    order_id = post_order(api, seeded, [("SKU-A", 4)], payment_method="cod")
    first = fulfilment_in(api, order_id, "dispatched")
    assert first["warehouse_id"] == "WH-EAST"
    wms.send_event(first["id"], "short_picked")
    second = fulfilment_in(api, order_id, "dispatched", index=1)
    assert second["warehouse_id"] == "WH-WEST"
    order = get_order(api, order_id)
    assert order["fulfilments"][0]["status"] == "cancelled" and order["excluded_warehouses"] == ["WH-EAST"]
    assert stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 10, "reserved": 0, "available": 10}
    assert stock_of(api, "SKU-A", "WH-WEST") == {"on_hand": 5, "reserved": 4, "available": 1}
    assert order["fulfilments"][1]["amounts"] == order["fulfilments"][0]["amounts_before_reroute"]
    assert order["fulfilments"][0]["amounts"]["payable"] == "0"  # its money moved to the replacement
