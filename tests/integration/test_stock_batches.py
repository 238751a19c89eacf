"""A plan's holds are placed, and a shipment's lines shipped, in one round trip each, with the
line-by-line outcomes of the single updates they stand for."""
from __future__ import annotations

import pytest

from documents import reservations, stock

pytestmark = pytest.mark.integration


def level(sku: str, wh: str = "WH1") -> dict:
    return stock.collection().find_one({"_id": stock.stock_id(sku, wh)})


def test_holds_are_placed_in_order_up_to_the_first_that_does_not_fit_and_nothing_else_changes(db):
    stock.upsert_level("SKU-A", "WH1", 5)
    stock.upsert_level("SKU-B", "WH1", 1)
    stock.upsert_level("SKU-C", "WH1", 9)
    before = stock.collection().count_documents({})

    placed = stock.reserve_all([("SKU-A", "WH1", "O1~1", 2), ("SKU-B", "WH1", "O1~2", 3), ("SKU-C", "WH1", "O1~3", 1)])

    assert placed == 1  # SKU-B holds 1 unit, 3 asked: the batch stops there
    assert (level("SKU-A")["available"], level("SKU-A")["holds"]) == (3, {"O1~1": 2})
    assert (level("SKU-B")["available"], level("SKU-B").get("holds") or {}) == (1, {})
    assert (level("SKU-C")["available"], level("SKU-C").get("holds") or {}) == (9, {})
    assert stock.collection().count_documents({}) == before  # the guard's upsert inserted nothing
    # a key that holds already is refused like a short level
    assert stock.reserve_all([("SKU-A", "WH1", "O1~1", 1)]) == 0
    assert level("SKU-A")["holds"] == {"O1~1": 2}


def test_a_plan_that_does_not_fit_releases_what_it_placed(db):
    stock.upsert_level("SKU-A", "WH1", 5)
    stock.upsert_level("SKU-B", "WH1", 1)
    wanted = [reservations.Hold("SKU-A", "WH1", "O2~1", 2), reservations.Hold("SKU-B", "WH1", "O2~2", 2)]

    ok, failed = reservations.apply(wanted, [])

    assert (ok, failed) == (False, [wanted[1]])
    assert (level("SKU-A")["available"], level("SKU-A").get("holds") or {}) == (5, {})


def test_lines_ship_in_one_batch_and_converge_when_one_shipped_part_already(db):
    stock.upsert_level("SKU-A", "WH1", 10)
    stock.upsert_level("SKU-B", "WH1", 10)
    assert stock.reserve_all([("SKU-A", "WH1", "O3~1", 4), ("SKU-B", "WH1", "O3~2", 2)]) == 2
    stock.ship_down_to("SKU-A", "WH1", "O3~1", 4, 1)  # a partial confirmation: 3 of its 4 left

    stock.ship_all([("SKU-A", "WH1", "O3~1", 4, 0), ("SKU-B", "WH1", "O3~2", 2, 0)])  # then the rest
    stock.ship_all([("SKU-A", "WH1", "O3~1", 4, 0), ("SKU-B", "WH1", "O3~2", 2, 0)])  # and a replay

    a, b = level("SKU-A"), level("SKU-B")
    assert (a["on_hand"], a["reserved"], a["available"], a.get("holds") or {}) == (6, 0, 6, {})
    assert (b["on_hand"], b["reserved"], b["available"], b.get("holds") or {}) == (8, 0, 8, {})


def test_a_shipments_lines_go_in_the_orders_round_trip_and_what_did_not_land_converges_after(db):
    from documents import orders

    # Given an order whose fulfilment holds two lines, one of them partly shipped already
    stock.upsert_level("SKU-A", "WH1", 10)
    stock.upsert_level("SKU-B", "WH1", 10)
    assert stock.reserve_all([("SKU-A", "WH1", "O4~1", 4), ("SKU-B", "WH1", "O4~2", 2)]) == 2
    stock.ship_down_to("SKU-A", "WH1", "O4~1", 4, 1)
    lines = [{"line_no": 1, "sku": "SKU-A", "quantity": 4}, {"line_no": 2, "sku": "SKU-B", "quantity": 2}]
    doc = {"_id": "O4", "version": 1, "status": "awaiting_shipment", "shipment_status": "unshipped",
           "fulfilments": [{"id": "O4-F1", "warehouse_id": "WH1", "status": "packed", "lines": lines}]}
    orders.collection().insert_one(dict(doc))
    shipped = [{**doc["fulfilments"][0], "status": "shipped"}]

    # When the change that ships it is saved with the stock updates that follow from it
    then = orders.Then(reservations.shipping_writes("O4-F1"))
    saved = orders.save_change("O4", 1, {"fulfilments": shipped, "shipment_status": "shipped"}, current=doc, then=then)
    assert saved is not None

    # Then SKU-B's went with it; SKU-A's (its hold no longer whole) did not, and converges after
    assert then.landed == [False, True]
    assert level("SKU-B")["on_hand"] == 8 and level("SKU-A")["on_hand"] == 7
    reservations.ship_left(saved, "O4-F1", then.landed)
    a, b = level("SKU-A"), level("SKU-B")
    assert (a["on_hand"], a["reserved"], a.get("holds") or {}) == (6, 0, {})
    assert (b["on_hand"], b["reserved"], b.get("holds") or {}) == (8, 0, {})
    # and a change that lost the race writes no stock
    late = orders.Then(reservations.shipping_writes("O4-F1"))
    assert orders.save_change("O4", 1, {"fulfilments": shipped, "shipment_status": "shipped"}, current=doc,
                              then=late) is None
    assert late.landed is None and level("SKU-B")["on_hand"] == 8
