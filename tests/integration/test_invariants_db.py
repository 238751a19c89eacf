"""The invariant checker and its repairs against the real MongoDB-wire server, and
``orderrouter check`` as a command."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from documents import invariants, orders, stock
from documents.codec import to_bson
from tests.helpers import eventually, get_order, http

pytestmark = pytest.mark.integration
NOW = datetime.now(timezone.utc)


def store_order(oid: str, status: str = "awaiting_shipment", fulfilment_status: str = "reserved",
                quantity: int = 2, warehouse: str = "WH1", **extra) -> dict:
    money = {"goods": "20.00", "discount": "0.00", "freight": "5.00", "payable": "25.00"}
    shipped = fulfilment_status in ("shipped", "delivered")
    doc = {"_id": oid, "channel": "manual", "channel_order_id": f"c-{oid}", "status": status,
           "payment_status": "paid", "shipment_status": "shipped" if shipped else "unshipped",
           "routing": {"state": "routed", "backordered": []}, "currency": "USD",
           "amounts": {**money, "currency": "USD"}, "payable": money["payable"],
           "fulfilments": [{"id": f"{oid}-F1", "warehouse_id": warehouse, "status": fulfilment_status,
                            "lines": [{"line_no": 1, "sku": "SKU-A", "quantity": quantity}], "amounts": money}],
           "created_at": NOW, "updated_at": NOW, "version": 1, **extra}
    orders.collection().insert_one(to_bson(doc))
    return doc


def kinds(violations) -> list[str]:
    return sorted(v.kind for v in violations)


def test_reserved_orders_with_their_holds_pass_every_check(db):
    stock.upsert_level("SKU-A", "WH1", 10)
    store_order("O1")
    assert stock.reserve("SKU-A", "WH1", "O1~1", 2)
    assert invariants.check_all() == []


def test_repair_recomputes_drifted_counters_and_releases_orphans_of_dead_orders_only(db):
    # Given drifted counters, a hold of a cancelled order, one of a missing order, and a shipped order's hold
    stock.upsert_level("SKU-A", "WH1", 10)
    store_order("O1")
    store_order("O2", status="cancelled", fulfilment_status="cancelled")
    store_order("O3", status="shipped", fulfilment_status="shipped")
    for key, qty in (("O1~1", 2), ("O2~1", 2), ("O9~1", 1), ("O3~1", 2)):
        assert stock.reserve("SKU-A", "WH1", key, qty)
    stock.collection().update_one({"_id": "SKU-A@WH1"}, {"$inc": {"reserved": 4, "available": 1}})
    before = invariants.check_all()
    assert kinds(before) == ["orphan_hold", "orphan_hold", "orphan_hold", "reserved_mismatch", "stock_counts"]

    # When it is repaired
    report = invariants.repair(before)

    # Then the dead and missing orders' holds are gone, counters match the remaining holds,
    # and the shipped order's hold is left for a person
    assert len(report.done) == 3, report
    row = stock.collection().find_one({"_id": "SKU-A@WH1"})
    assert row["holds"] == {"O1~1": 2, "O3~1": 2}
    assert (row["on_hand"], row["reserved"], row["available"]) == (10, 4, 6)
    assert [(v.kind, v.details["key"]) for v in invariants.check_all()] == [("orphan_hold", "O3~1")]


def test_a_counter_repair_reads_stock_afresh_so_a_change_after_the_check_is_kept(db):
    stock.upsert_level("SKU-A", "WH1", 10)
    stock.collection().update_one({"_id": "SKU-A@WH1"}, {"$inc": {"available": -3}})
    found = invariants.check_all()
    assert stock.adjust("SKU-A", "WH1", 5) is not None  # an inbound lands between check and repair
    report = invariants.repair(found)
    assert report.done == ["stock SKU-A@WH1: reserved 0 -> 0, available 12 -> 15"]
    row = stock.collection().find_one({"_id": "SKU-A@WH1"})
    assert (row["on_hand"], row["reserved"], row["available"]) == (15, 0, 15)


def test_an_order_left_in_received_is_reported_stuck_after_ten_minutes(db):
    old = NOW - timedelta(minutes=11)
    store_order("O1", routing={"state": "received"}, fulfilments=[], created_at=old, updated_at=old,
                status="pending_payment")
    assert kinds(invariants.check_all()) == ["stuck_received"]


def run_check(db, *args) -> subprocess.CompletedProcess:
    url = "mongodb://{}:{}/".format(*db.client.address)
    env = {**os.environ, "ROUTER_MONGO_URL": url, "ROUTER_MONGO_DB": db.name, "ROUTER_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "adapters.cli", "check", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_check_command_prints_violations_exits_nonzero_and_repairs_what_it_can(db):
    stock.upsert_level("SKU-A", "WH1", 10)
    assert stock.reserve("SKU-A", "WH1", "O9~1", 3)
    first = run_check(db)
    assert first.returncode == 1 and "orphan_hold" in first.stdout and "O9~1" in first.stdout, first
    repaired = run_check(db, "--repair")
    assert repaired.returncode == 0, repaired
    assert "repaired: released orphan hold O9~1" in repaired.stdout and "0 violation(s) left" in repaired.stdout
    clean = run_check(db)
    assert clean.returncode == 0 and "all invariants hold" in clean.stdout


def test_an_order_through_the_real_pipeline_keeps_every_invariant(api, worker, seeded, wms):
    response = http.post(f"{api}/v1/channels/manual/orders",
                          json=seeded.order([("SKU-A", 2), ("SKU-M2", 1)], discounts=[{"amount": "3.00"}]), timeout=5)
    order_id = response.json()["order_id"]
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed")
    assert invariants.check_all() == []
    payable = get_order(api, order_id)["amounts"]["payable"]
    http.post(f"{api}/v1/payments", json={"order_id": order_id, "transaction_id": "tx-1", "type": "paid",
                                           "amount": payable}, timeout=5)
    eventually(lambda: all(f["status"] == "dispatched" for f in get_order(api, order_id)["fulfilments"]),
               what="dispatched")
    assert invariants.check_all() == []


def test_a_backordered_order_has_a_deadline_and_is_routed_once_stock_arrives(api, worker, seeded):
    stock.upsert_level("SKU-C", "WH-WEST", 0)
    response = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-C", 1)], payment_method="cod"),
                          timeout=5)
    order_id = response.json()["order_id"]
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "backordered", what="backordered")
    order = get_order(api, order_id)
    assert order["status"] == "awaiting_shipment" and order["due_timer"]["action"] == "retry_backorder"
    assert invariants.check_all(require_timers=True) == []
    # stock arrives; when the retry is due, the order is routed and dispatched
    stock.upsert_level("SKU-C", "WH-WEST", 5)
    from datetime import datetime, timedelta

    from services import timers

    due = datetime.fromisoformat(order["due_at"])
    assert not timers.fire(order_id, due - timedelta(seconds=1))
    assert timers.fire(order_id, due + timedelta(seconds=1))
    eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
               and o["fulfilments"][0]["status"] == "dispatched", what="routed after the backorder retry")
