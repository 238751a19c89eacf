"""Every query and update operator the router uses, against the MongoDB-wire server the tests run
on, checked against MongoDB's documented result. If the embedded server ever diverges, this fails
first and the query is changed to one that behaves the same on both (see ENGINEERING.md)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from bson.decimal128 import Decimal128
from pymongo.errors import DuplicateKeyError

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def coll(db):
    c = db["conformance"]
    c.insert_many([
        {"_id": "a", "status": "x", "version": 0, "n": 5, "amount": Decimal128("10.05"), "at": T0,
         "tags": ["p", "q"], "holds": {"k1": 2}, "items": [{"id": "a-F1", "status": "packed", "log": []},
                                                            {"id": "a-F2", "status": "reserved", "log": []}]},
        {"_id": "b", "status": "y", "version": 3, "n": 1, "amount": Decimal128("0.95"), "at": T0 + timedelta(days=1),
         "tags": ["q"], "holds": {}, "items": []},
    ])
    return c


def ids(cursor):
    return sorted(d["_id"] for d in cursor)


def test_query_operators(coll):
    assert ids(coll.find({"n": {"$gte": 5}})) == ["a"]
    assert ids(coll.find({"n": {"$lt": 5}})) == ["b"]
    assert ids(coll.find({"status": {"$in": ["x", "z"]}})) == ["a"]
    assert ids(coll.find({"tags": "q"})) == ["a", "b"]  # equality on an array field matches an element
    assert ids(coll.find({"holds.k1": {"$exists": True}})) == ["a"]
    assert ids(coll.find({"holds.k1": {"$exists": False}})) == ["b"]
    assert ids(coll.find({"holds.k1": 2})) == ["a"]
    assert ids(coll.find({"items.id": "a-F2"})) == ["a"]
    assert ids(coll.find({"items.status": "reserved"})) == ["a"]
    assert ids(coll.find({"amount": {"$gte": Decimal128("1.00"), "$lte": Decimal128("20")}})) == ["a"]
    assert ids(coll.find({"at": {"$gte": T0, "$lt": T0 + timedelta(hours=1)}})) == ["a"]
    page = {"$or": [{"at": {"$lt": T0 + timedelta(days=1)}}, {"at": T0 + timedelta(days=1), "_id": {"$lt": "b"}}]}
    assert ids(coll.find({"$and": [{"n": {"$gte": 0}}, page]})) == ["a"]
    assert [d["_id"] for d in coll.find({}, {"_id": 1}).sort([("at", -1), ("_id", -1)]).limit(1)] == ["b"]
    assert "items" not in coll.find_one({"_id": "a"}, {"items": 0, "holds": 0})
    assert set(coll.find_one({"_id": "a"}, {"holds.k1": 1})["holds"]) == {"k1"}


def test_guarded_updates_match_once(coll):
    guard = {"_id": "a", "version": 0}
    assert coll.update_one(guard, {"$set": {"status": "z"}, "$inc": {"version": 1}}).modified_count == 1
    assert coll.update_one(guard, {"$set": {"status": "w"}, "$inc": {"version": 1}}).modified_count == 0
    assert coll.find_one({"_id": "a"})["status"] == "z"


def test_stock_hold_updates_apply_once_and_conserve(coll):
    reserve = ({"_id": "b", "n": {"$gte": 1}, "holds.o~1": {"$exists": False}},
               {"$inc": {"n": -1}, "$set": {"holds.o~1": 1}})
    assert coll.update_one(*reserve).modified_count == 1
    assert coll.update_one(*reserve).modified_count == 0  # the same hold twice holds once
    release = ({"_id": "b", "holds.o~1": 1}, {"$inc": {"n": 1}, "$unset": {"holds.o~1": ""}})
    assert coll.update_one(*release).modified_count == 1
    assert coll.update_one(*release).modified_count == 0
    assert coll.find_one({"_id": "b"})["n"] == 1 and coll.find_one({"_id": "b"})["holds"] == {}


def test_array_updates_push_each_slice_and_positional(coll):
    coll.update_one({"_id": "a"}, {"$push": {"tags": {"$each": ["r", "s", "t"], "$slice": -3}}})
    assert coll.find_one({"_id": "a"})["tags"] == ["r", "s", "t"]
    positional = coll.update_one(
        {"_id": "a", "items": {"$elemMatch": {"id": "a-F1", "status": "packed"}}},
        {"$set": {"items.$.status": "shipped"}, "$push": {"items.$.log": {"e": 1}}, "$inc": {"version": 1}})
    assert positional.modified_count == 1
    items = coll.find_one({"_id": "a"})["items"]
    assert [(i["id"], i["status"], i["log"]) for i in items] == [("a-F1", "shipped", [{"e": 1}]), ("a-F2", "reserved", [])]
    stale = coll.update_one({"_id": "a", "items": {"$elemMatch": {"id": "a-F1", "status": "packed"}}},
                            {"$set": {"items.$.status": "picked"}})
    assert stale.modified_count == 0


def test_positional_update_guarded_on_a_set_of_statuses_and_an_absent_event(coll):
    """The guard of an in-stage fulfilment event (documents/orders.advance_fulfilment): status in a
    set, and the event id not yet in the fulfilment's own history (another fulfilment's does not count)."""
    coll.insert_one({"_id": "g", "items": [{"id": "g-F1", "status": "accepted", "log": [{"event_id": "e1"}]},
                                           {"id": "g-F2", "status": "picked", "log": [{"event_id": "e2"}]}]})

    def advance(fid, statuses, event_id):
        return coll.update_one(
            {"_id": "g", "items": {"$elemMatch": {"id": fid, "status": {"$in": statuses}, "log.event_id": {"$ne": event_id}}}},
            {"$set": {"items.$.status": "packed"}, "$push": {"items.$.log": {"event_id": event_id}}}).modified_count

    assert advance("g-F1", ["dispatched", "picked"], "e9") == 0  # accepted is not in the set
    assert advance("g-F1", ["dispatched", "accepted", "picked"], "e1") == 0  # e1 is already in g-F1's history
    assert advance("g-F1", ["dispatched", "accepted", "picked"], "e2") == 1  # e2 is g-F2's, not g-F1's
    assert advance("g-F1", ["dispatched", "accepted", "picked"], "e3") == 0  # g-F1 is packed now
    items = coll.find_one({"_id": "g"})["items"]
    assert [(i["status"], [x["event_id"] for x in i["log"]]) for i in items] == [("packed", ["e1", "e2"]),
                                                                                  ("picked", ["e2"])]


def test_unique_index_and_upsert(coll, db):
    other = db["conformance_unique"]
    other.create_index([("channel", 1), ("cid", 1)], unique=True)
    other.insert_one({"_id": 1, "channel": "c", "cid": "1"})
    with pytest.raises(DuplicateKeyError):
        other.insert_one({"_id": 2, "channel": "c", "cid": "1"})
    other.update_one({"_id": 3}, {"$set": {"channel": "d", "cid": "1"}, "$setOnInsert": {"n": 0}}, upsert=True)
    assert other.find_one({"_id": 3})["n"] == 0


def test_aggregation_groups_and_sums_decimals(coll):
    rows = list(coll.aggregate([{"$match": {"n": {"$gte": 0}}},
                                {"$group": {"_id": "$status", "n": {"$sum": 1}, "total": {"$sum": "$amount"}}},
                                {"$sort": {"_id": 1}}]))
    assert [(r["_id"], r["n"], r["total"].to_decimal()) for r in rows] == [("x", 1, Decimal("10.05")),
                                                                           ("y", 1, Decimal("0.95"))]


def test_ranges_on_a_compound_index_with_a_descending_field_in_the_middle(db):
    """The order list's window queries. The embedded server (SecantusDB 0.7.0b3) drops the rows at
    exactly the bound for ``$gte`` here, so documents/queries.py sends ``$gt`` 1 ms earlier; the
    xfail below records the divergence and turns into a failure to notice once it is fixed."""
    c = db["conformance_ranges"]
    c.create_index([("status", 1), ("placed_at", -1), ("_id", -1)])
    c.insert_many([{"_id": f"r{d}", "status": "s", "placed_at": T0 + timedelta(days=d)} for d in range(4)])
    day = lambda d: T0 + timedelta(days=d)  # noqa: E731
    assert ids(c.find({"status": "s", "placed_at": {"$gt": day(1) - timedelta(milliseconds=1), "$lte": day(2)}})) \
        == ["r1", "r2"]
    assert ids(c.find({"status": "s", "placed_at": {"$gt": day(0), "$lt": day(3)}})) == ["r1", "r2"]
    assert [d["_id"] for d in c.find({"status": "s", "placed_at": {"$lte": day(2)}}).sort(
        [("placed_at", -1), ("_id", -1)]).limit(2)] == ["r2", "r1"]


@pytest.mark.xfail(reason="SecantusDB 0.7.0b3: $gte on a descending compound field drops the bound", strict=False)
def test_gte_on_a_descending_compound_field_keeps_the_bound(db):
    c = db["conformance_gte"]
    c.create_index([("status", 1), ("placed_at", -1), ("_id", -1)])
    c.insert_many([{"_id": f"r{d}", "status": "s", "placed_at": T0 + timedelta(days=d)} for d in range(3)])
    assert ids(c.find({"status": "s", "placed_at": {"$gte": T0 + timedelta(days=1)}})) == ["r1", "r2"]
