"""The order list: its rows follow the orders through the code that saves them, pages walk every
matching order exactly once newest first (across the look-back windows and orders placed at the
same instant), every filter and combination agrees with a plain reading of the orders, and the
status tab counts agree with a count of the orders."""
from __future__ import annotations

import config

import random
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from documents import order_list, orders, queries
from documents.codec import to_bson

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
OPEN_AFTER_SALES = ("pending_review", "awaiting_refund")


def stored_order(i: int, placed_at: datetime, rng: random.Random) -> dict:
    skus = sorted({f"S{rng.randrange(6)}" for _ in range(rng.randint(1, 2))})
    return {"_id": f"O{i:04d}", "channel": rng.choice(("web", "shop")), "channel_order_id": f"C{i}",
            "status": rng.choice(("pending_payment", "awaiting_shipment", "completed")),
            "payment_status": rng.choice(("paid", "unpaid")), "shipment_status": "unshipped",
            "after_sales_status": rng.choice(("none", "none", "pending_review")), "currency": "CNY",
            "customer": {"id": f"cust-{rng.randrange(5)}"}, "merchant_ids": [f"m{rng.randrange(2)}"],
            "warehouse_ids": [f"WH-{rng.randrange(3)}"], "skus": skus,
            "amounts": {"payable": Decimal(rng.randint(100, 999))}, "payable": Decimal(rng.randint(100, 999)),
            "placed_at": placed_at, "timeline": [], "raw": {"big": "x" * 100}, "version": 0}


@pytest.fixture
def placed(db):
    """150 orders saved the way intake saves them: a few today, some weeks and months back, a
    year ago, and five at one instant."""
    rng = random.Random(7)
    ages = [timedelta(hours=h) for h in range(40)] + [timedelta(days=20 + d) for d in range(45)] + \
        [timedelta(days=300 + d) for d in range(60)] + [timedelta(days=3)] * 5
    docs = [stored_order(i, NOW - age, rng) for i, age in enumerate(ages)]
    for doc in docs:
        orders.insert_new(doc)
    return [orders.load(d["_id"]) for d in docs]


def walk(filters: dict, limit: int) -> list[str]:
    seen, cursor = [], None
    for _ in range(200):
        page, cursor = queries.list_rows(filters, limit=limit, cursor=cursor, now=NOW)
        assert len(page) <= limit
        seen += [r["_id"] for r in page]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


def expected(all_orders: list[dict], filters: dict) -> list[str]:
    """The orders ``filters`` selects, newest first, read straight off the order documents."""
    def keep(o):
        for name, path in queries.EQUALITY.items():
            want = filters.get(name)
            if want is None:
                continue
            value = o["customer"]["id"] if path == "customer.id" else o[path]
            if (want not in value) if isinstance(value, list) else value != want:
                return False
        if filters.get("placed_from") and o["placed_at"] < filters["placed_from"]:
            return False
        if filters.get("placed_to") and o["placed_at"] >= filters["placed_to"]:
            return False
        if filters.get("min_amount") is not None and o["payable"] < filters["min_amount"]:
            return False
        return filters.get("max_amount") is None or o["payable"] <= filters["max_amount"]
    return [o["_id"] for o in sorted((o for o in all_orders if keep(o)),
                                     key=lambda o: (o["placed_at"], o["_id"]), reverse=True)]


def test_pages_cover_every_order_once_newest_first_across_windows_and_ties(placed):
    ids = walk({}, limit=7)
    assert ids == expected(placed, {})
    assert len(ids) == len(placed)


FILTER_SETS = [
    {"status": "completed"}, {"channel": "web"}, {"customer": "cust-3"}, {"sku": "S2"}, {"warehouse": "WH-1"},
    {"merchant": "m0"}, {"after_sales_status": "pending_review"}, {"channel_order_id": "C77"},
    {"status": "awaiting_shipment", "channel": "shop"}, {"status": "completed", "warehouse": "WH-1"},
    {"merchant": "m1", "status": "pending_payment", "placed_to": NOW - timedelta(days=2)},
    {"customer": "cust-1", "status": "completed"},
    {"sku": "S1", "warehouse": "WH-2", "payment_status": "paid"},
    {"placed_from": NOW - timedelta(days=30), "placed_to": NOW - timedelta(hours=5)},
    {"status": "completed", "placed_from": NOW - timedelta(days=400), "placed_to": NOW - timedelta(days=3)},
    {"min_amount": Decimal("300"), "max_amount": Decimal("600")},
    {"channel": "web", "min_amount": Decimal("500")},
    {"placed_to": NOW - timedelta(days=3), "sku": "S0"},
]


@pytest.mark.parametrize("filters", FILTER_SETS, ids=lambda f: ",".join(f))
def test_every_filter_and_combination_pages_through_exactly_the_matching_orders(placed, filters):
    assert walk(filters, limit=4) == expected(placed, filters)


def test_api_list_returns_the_page_as_whole_orders_in_row_order(placed):
    full, cursor = queries.list_orders({"status": "completed"}, limit=10, now=NOW)
    rows, row_cursor = queries.list_rows({"status": "completed"}, limit=10, now=NOW)
    assert [o["_id"] for o in full] == [r["_id"] for r in rows] and cursor == row_cursor
    assert all("lines" not in r for r in rows)  # rows are slim ...
    assert all("raw" not in o and "amounts" in o for o in full)  # ... the API's orders are whole, less the bulk


def test_a_status_change_moves_the_order_between_lists_and_other_changes_write_no_row(placed):
    order = next(o for o in placed if o["status"] == "pending_payment")
    saved = orders.save_change(order["_id"], order["version"], {"status": "awaiting_shipment"}, current=order)
    assert order["_id"] not in walk({"status": "pending_payment"}, 50)
    assert order["_id"] in walk({"status": "awaiting_shipment"}, 50)
    assert order_list.collection().find_one({"_id": order["_id"]})["version"] == saved["version"]
    again = orders.save_change(order["_id"], saved["version"], {"notes": "call first"}, current=saved)
    assert again["version"] == saved["version"] + 1
    assert order_list.collection().find_one({"_id": order["_id"]})["version"] == saved["version"]


def test_a_change_that_lost_the_race_writes_neither_the_order_nor_its_row(placed):
    # Given an order another writer changed after this one read it
    order = next(o for o in placed if o["status"] == "pending_payment")
    other = orders.save_change(order["_id"], order["version"], {"status": "cancelled"}, current=order)
    # When this writer's change, decided on the stale copy, is saved with its row in one round trip
    lost = orders.save_change(order["_id"], order["version"], {"status": "awaiting_shipment"}, current=order)
    # Then nothing of it landed: the order and its row are the other writer's
    assert lost is None
    stored = orders.load(order["_id"])
    assert (stored["status"], stored["version"]) == ("cancelled", other["version"])
    row = order_list.collection().find_one({"_id": order["_id"]})
    assert (row["status"], row["version"]) == ("cancelled", other["version"])
    assert orders.collection().count_documents({"_id": order["_id"]}) == 1  # the guard's upsert inserted nothing


def test_a_change_whose_row_is_already_newer_still_lands_and_keeps_the_newer_row(placed):
    order = next(o for o in placed if o["status"] == "pending_payment")
    order_list.collection().update_one({"_id": order["_id"]}, {"$set": {"status": "completed", "version": 99}})
    saved = orders.save_change(order["_id"], order["version"], {"status": "awaiting_shipment"}, current=order)
    assert saved is not None and orders.load(order["_id"])["status"] == "awaiting_shipment"
    assert order_list.collection().find_one({"_id": order["_id"]})["version"] == 99


def test_records_a_change_refers_to_go_first_in_its_round_trip_and_one_already_there_stops_nothing(placed):
    # Given a change that refers to two records (a routing decision's inputs), one of them stored
    # already (another run of the message wrote it)
    order = next(o for o in placed if o["status"] == "pending_payment")
    records = orders.collection().database["referred"]
    records.insert_one({"_id": "r1", "by": "the other run"})
    first = [(records.full_name, {"_id": f"r{i}"}, {"$setOnInsert": {"by": "this run"}}) for i in (1, 2)]
    # When it is saved
    saved = orders.save_change(order["_id"], order["version"], {"status": "awaiting_shipment"}, current=order,
                               first=first)
    # Then the order, its row and the missing record landed; the record already there is as it was
    assert saved is not None and orders.load(order["_id"])["status"] == "awaiting_shipment"
    assert order_list.collection().find_one({"_id": order["_id"]})["version"] == saved["version"]
    assert {d["_id"]: d["by"] for d in records.find()} == {"r1": "the other run", "r2": "this run"}
    # and a change that lost the race writes neither the order nor its row
    assert orders.save_change(order["_id"], order["version"], {"status": "cancelled"}, current=order,
                              first=[(records.full_name, {"_id": "r3"}, {"$setOnInsert": {"by": "late"}})]) is None
    assert order_list.collection().find_one({"_id": order["_id"]})["status"] == "awaiting_shipment"


def test_a_row_left_behind_by_a_crash_is_put_right_when_the_change_is_replayed(placed):
    # Given an order whose change landed but whose row write did not (the worker was killed between)
    order = next(o for o in placed if o["status"] == "pending_payment")
    saved = orders.save_change(order["_id"], order["version"], {"status": "awaiting_shipment"}, current=order)
    order_list.collection().update_one({"_id": order["_id"]},
                                       {"$set": {"status": "pending_payment", "version": order["version"]}})
    # When the redelivered message decides there is nothing left to do
    doc, result = orders.update_with(order["_id"], lambda current: None)
    # Then the row follows the order again
    assert result is None and doc["version"] == saved["version"]
    row = order_list.collection().find_one({"_id": order["_id"]})
    assert (row["status"], row["version"]) == ("awaiting_shipment", saved["version"])
    assert order["_id"] in walk({"status": "awaiting_shipment"}, 50)


def test_an_older_state_never_overwrites_a_newer_row(placed):
    order = placed[0]
    newer = {**order, "status": "completed", "version": 5}
    assert order_list.sync(newer)
    assert not order_list.sync({**order, "status": "cancelled", "version": 4})
    assert order_list.collection().find_one({"_id": order["_id"]})["status"] == "completed"


def test_rebuild_restores_missing_and_wrong_rows_and_drops_rows_without_an_order(placed):
    order_list.collection().delete_one({"_id": placed[0]["_id"]})
    order_list.collection().update_one({"_id": placed[1]["_id"]}, {"$set": {"channel": "wrong"}})
    order_list.collection().insert_one(to_bson(order_list.row_of({**placed[2], "_id": "GONE"})))
    result = order_list.rebuild()
    assert result == {"written": 2, "deleted": 1, "orders": len(placed)}
    assert walk({}, 50) == expected(placed, {})
    assert order_list.rebuild()["written"] == 0


@pytest.mark.parametrize("filters", [{}, {"channel": "web"}, {"customer": "cust-2", "placed_from": NOW - timedelta(days=60)}],
                         ids=["all", "channel", "customer+from"])
def test_tab_counts_agree_with_a_count_of_the_orders(placed, filters):
    queries.forget_counts()
    counts = queries.tab_counts({**filters, "status": "completed"}, OPEN_AFTER_SALES)
    matching = [o for o in placed if o["_id"] in set(expected(placed, filters))]
    by_status: dict[str, int] = {}
    for o in matching:
        by_status[o["status"]] = by_status.get(o["status"], 0) + 1
    assert counts.by_status == by_status
    assert counts.by_after_sales == {"pending_review": sum(o["after_sales_status"] == "pending_review"
                                                           for o in matching)}


def test_tab_counts_are_served_from_the_cache_until_they_expire(placed, monkeypatch):
    queries.forget_counts()
    first = queries.tab_counts({}, OPEN_AFTER_SALES)
    order = next(o for o in placed if o["status"] == "pending_payment")
    orders.save_change(order["_id"], order["version"], {"status": "cancelled"}, current=order)
    assert queries.tab_counts({}, OPEN_AFTER_SALES) == first  # within the TTL: as counted before
    monkeypatch.setattr(queries, "COUNTS_TTL_S", 0.0)
    assert queries.tab_counts({}, OPEN_AFTER_SALES) == first  # expired: served once more, counted again behind
    deadline = time.monotonic() + 10
    while queries.tab_counts({}, OPEN_AFTER_SALES).by_status.get("cancelled") != 1:
        assert time.monotonic() < deadline, "the expired count was never refreshed"


def test_a_cursor_this_api_did_not_give_is_refused(placed):
    with pytest.raises(queries.BadCursor):
        queries.list_rows({}, cursor="not-a-cursor")


def test_rebuild_list_command_puts_a_lost_row_back(placed, db, mongo_url, monkeypatch):
    from click.testing import CliRunner

    from adapters.cli import main
    from documents.connection import connect

    order_list.collection().delete_one({"_id": placed[5]["_id"]})
    monkeypatch.setenv("ROUTER_MONGO_URL", mongo_url)
    monkeypatch.setenv("ROUTER_MONGO_DB", db.name)
    config.use(None)
    try:
        result = CliRunner().invoke(main, ["rebuild-list"])
    finally:
        config.use(None)
        connect(mongo_url, db.name)
    assert result.exit_code == 0, result.output
    assert f"{len(placed)} orders: 1 row(s) written, 0 deleted" in result.output
    assert placed[5]["_id"] in walk({}, 50)


def test_starting_on_a_database_from_before_the_list_rows_drops_the_former_list_indexes(db):
    # Given orders still carrying the list indexes an earlier release created on them, and an
    # index an operator added for their own reports
    from documents import indexes

    for field in ("status", "skus", "customer.id"):
        orders.collection().create_index([(field, 1), ("placed_at", -1), ("_id", -1)])
    orders.collection().create_index([("payable", 1), ("placed_at", -1)])
    orders.collection().create_index([("channel_order_id", 1)])
    orders.collection().create_index([("customer.email", 1)])
    declared = set(orders.collection().index_information()) - {
        "status_1_placed_at_-1__id_-1", "skus_1_placed_at_-1__id_-1", "customer.id_1_placed_at_-1__id_-1",
        "payable_1_placed_at_-1", "channel_order_id_1", "customer.email_1"}

    # When the indexes are ensured (as every API, worker and CLI start does), twice
    dropped = indexes.ensure_indexes()
    again = indexes.ensure_indexes()

    # Then the former list indexes are gone, ours and the operator's stay, and the second run drops nothing
    assert sorted(dropped) == sorted(f"orders.{n}" for n in (
        "status_1_placed_at_-1__id_-1", "skus_1_placed_at_-1__id_-1", "customer.id_1_placed_at_-1__id_-1",
        "payable_1_placed_at_-1", "channel_order_id_1"))
    assert set(orders.collection().index_information()) == declared | {"customer.email_1"}
    assert again == []
