"""Every query and update operator the router uses, against the MongoDB-wire server the tests run
on, checked against MongoDB's documented result. If the embedded server ever diverges, this fails
first and the query is changed to one that behaves the same on both, or the divergence becomes a
quirk in documents/wire_quirks.py, tested below both ways."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from bson.decimal128 import Decimal128
from pymongo.errors import DuplicateKeyError

from documents import connection, queries, wire_quirks

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
    """The order list's window queries: ``$gt`` / ``$lt`` / ``$lte`` on ``placed_at`` beside an
    equality, on ``(status, placed_at -1, _id -1)`` (``$gte`` there: the quirks below)."""
    c = db["conformance_ranges"]
    c.create_index([("status", 1), ("placed_at", -1), ("_id", -1)])
    c.insert_many([{"_id": f"r{d}", "status": "s", "placed_at": T0 + timedelta(days=d)} for d in range(4)])
    day = lambda d: T0 + timedelta(days=d)  # noqa: E731
    assert ids(c.find({"status": "s", "placed_at": {"$gt": day(1) - timedelta(milliseconds=1), "$lte": day(2)}})) \
        == ["r1", "r2"]
    assert ids(c.find({"status": "s", "placed_at": {"$gt": day(0), "$lt": day(3)}})) == ["r1", "r2"]
    assert [d["_id"] for d in c.find({"status": "s", "placed_at": {"$lte": day(2)}}).sort(
        [("placed_at", -1), ("_id", -1)]).limit(2)] == ["r2", "r1"]


# -- the embedded server's quirks (documents/wire_quirks.py) ----------------------------------------
# Per quirk: what it protects (its flag's docstring, repeated in the tests' own), a test that the
# server still does what the flag says (on the embedded server the quirk reproduces: a strict xfail
# of MongoDB's documented result, or an assertion, so that the suite fails the day it is fixed and
# the workaround can go), and a test that the workaround gives MongoDB's documented result. On a
# real mongod (ROUTER_TEST_MONGO_URL) every flag is off and the same tests check the plain results.


@pytest.fixture
def quirks(db) -> wire_quirks.Quirks:
    return connection.quirks()


def documented_result_fails_where(request, present: bool, quirk: str) -> None:
    """Make the calling test (MongoDB's documented result of the query the quirk spoils) a strict
    xfail on a server with ``quirk``: it fails as XPASS the day the server gets it right."""
    if present:
        request.applymarker(pytest.mark.xfail(raises=AssertionError, strict=True, reason=(
            f"wire_quirks.Quirks.{quirk}: still present on this server (if this passes, it was fixed: "
            "drop the flag from wire_quirks.SECANTUS and the workaround with it)")))


def plan_of(cursor) -> str:
    return json.dumps(cursor.explain()["queryPlanner"]["winningPlan"], default=str)


def test_the_server_is_recognised_once_per_connection(db):
    """``connection.quirks`` asks the server once per connection: SecantusDB's buildInfo names a
    ``secantusVersion`` and gets :data:`wire_quirks.SECANTUS`; a real mongod gets ``MONGOD``."""
    build_info = db.client.admin.command("buildInfo")
    expected = wire_quirks.SECANTUS if "secantusVersion" in build_info else wire_quirks.MONGOD
    assert connection.quirks() is expected and connection.quirks() is expected
    if not os.environ.get("ROUTER_TEST_MONGO_URL"):
        assert expected is wire_quirks.SECANTUS  # the suite's own server is the embedded one


# gte_drops_bound -- protects the order list's windows and its placed_from filter
# (documents/queries.window_query): the only quirk whose workaround is switched.

@pytest.fixture
def descending_in_the_middle(db):
    c = db["conformance_gte"]
    c.create_index([("status", 1), ("placed_at", -1), ("_id", -1)])
    c.insert_many([{"_id": f"r{d}", "status": "s", "placed_at": T0 + timedelta(days=d)} for d in range(3)])
    return c


def test_gte_drops_bound__plain_gte_keeps_the_bound(descending_in_the_middle, quirks, request):
    """MongoDB's documented ``$gte``: the rows at exactly the bound match. Strict xfail where
    ``gte_drops_bound`` (there the rows placed at ``t`` are missing)."""
    documented_result_fails_where(request, quirks.gte_drops_bound, "gte_drops_bound")
    c, day1 = descending_in_the_middle, T0 + timedelta(days=1)
    assert ids(c.find({"status": "s", "placed_at": {"$gte": day1}})) == ["r1", "r2"]
    assert ids(c.find({"status": "s", "placed_at": {"$gte": day1, "$lte": day1}})) == ["r1"]


def test_gte_drops_bound__workaround_gives_the_documented_result(descending_in_the_middle, quirks):
    """What the list sends for "at or after t" matches the rows placed at ``t``: the ``$gt`` 1 ms
    earlier of the embedded server and the plain ``$gte`` a mongod gets, on this server; and the
    list's window query itself (documents/queries.window_query, this connection's quirks)."""
    c, day1 = descending_in_the_middle, T0 + timedelta(days=1)
    assert ids(c.find({"status": "s", "placed_at": wire_quirks.lower_bound(day1, wire_quirks.SECANTUS)})) \
        == ["r1", "r2"]
    assert ids(c.find({"status": "s", "placed_at": wire_quirks.lower_bound(day1, quirks)})) == ["r1", "r2"]
    window = queries.window_query({"status": "s"}, day1, day1, upper_inclusive=True)
    assert ids(c.find(window)) == ["r1"]


# array_paths_unresolved_in_expressions -- protects the payment-to-shipment report
# (documents/reports.payment_to_shipment), which unwinds instead; not switched.

@pytest.fixture
def shipments(db):
    c = db["conformance_paths"]
    c.insert_one({"_id": "o", "fulfilments": [{"shipped_at": T0 + timedelta(hours=2)}, {"shipped_at": T0},
                                              {"status": "reserved"}]})
    return c


def test_array_paths_unresolved_in_expressions__plain_min_of_an_array_path(shipments, quirks, request):
    """MongoDB's documented result: ``"$fulfilments.shipped_at"`` in an expression is the array of
    the elements' values, and ``$min`` of it the earliest. Strict xfail where the server resolves
    the path to nothing."""
    documented_result_fails_where(request, quirks.array_paths_unresolved_in_expressions,
                                  "array_paths_unresolved_in_expressions")
    row = next(shipments.aggregate([{"$project": {"first": {"$min": "$fulfilments.shipped_at"}}}]))
    assert row["first"] == T0


def test_array_paths_unresolved_in_expressions__unwinding_gives_the_documented_result(shipments):
    """The report's shape: unwind the array, keep the elements with the field, ``$min`` per order."""
    row = next(shipments.aggregate([
        {"$unwind": "$fulfilments"}, {"$match": {"fulfilments.shipped_at": {"$type": "date"}}},
        {"$group": {"_id": "$_id", "first": {"$min": "$fulfilments.shipped_at"}}}]))
    assert row == {"_id": "o", "first": T0}


# top_level_operator_scans -- protects the reconciler's and channel intake's "unset or older"
# ($not/$gte), the tracking-number lookup (two lookups) and the list's keyset cursor (ties dropped
# by the caller); not switched.

@pytest.fixture
def indexed(db):
    c = db["conformance_indexed"]
    c.create_index("a")
    c.create_index("b")
    c.insert_many([{"_id": i, "a": i, "b": -i} for i in range(300)])
    return c


def test_top_level_operator_scans__matches_the_server(indexed, quirks):
    """A top-level ``$or`` of two indexed clauses: a collection scan exactly where the flag says
    (mongod answers it from the two indexes)."""
    scans = "COLLSCAN" in plan_of(indexed.find({"$or": [{"a": 5}, {"b": -7}]}))
    assert scans == quirks.top_level_operator_scans, "the server changed: update wire_quirks"
    assert "COLLSCAN" not in plan_of(indexed.find({"a": 5}))


def test_top_level_operator_scans__the_shapes_without_it_give_the_documented_result(db):
    """``$not: {$gte: t}`` is "unset, null or older" as the ``$or`` of the three is (``$not`` also
    matches documents without the field); two lookups find what the ``$or`` finds; the keyset
    cursor ``placed_at <= p`` with the ties at ``p`` dropped is the ``$or`` cursor's page."""
    c = db["conformance_or"]
    second = timedelta(seconds=1)
    c.insert_many([{"_id": "unset"}, {"_id": "null", "at": None}, {"_id": "older", "at": T0 - second},
                   {"_id": "same", "at": T0}, {"_id": "newer", "at": T0 + second}])
    spelled_out = {"$or": [{"at": {"$exists": False}}, {"at": None}, {"at": {"$lt": T0}}]}
    assert ids(c.find({"at": {"$not": {"$gte": T0}}})) == ids(c.find(spelled_out)) == \
        ["null", "older", "unset"]

    c.insert_many([{"_id": "w", "waybill": "X1"}, {"_id": "p", "parcels": ["X2"]}])
    for number in ("X1", "X2", "X3"):
        either = c.find_one({"$or": [{"waybill": number}, {"parcels": number}]})
        assert (c.find_one({"waybill": number}) or c.find_one({"parcels": number})) == either

    rows = db["conformance_cursor"]
    rows.insert_many([{"_id": f"k{i}", "placed_at": T0 + timedelta(minutes=i // 2)} for i in range(6)])
    newest = [("placed_at", -1), ("_id", -1)]
    p, after = T0 + timedelta(minutes=1), "k3"  # the cursor row: the page goes on below it
    by_or = [d["_id"] for d in rows.find({"$or": [{"placed_at": {"$lt": p}},
                                                  {"placed_at": p, "_id": {"$lt": after}}]}).sort(newest)]
    kept = [d["_id"] for d in rows.find({"placed_at": {"$lte": p}}).sort(newest)
            if not (d["placed_at"] == p and d["_id"] >= after)]
    assert kept == by_or == ["k2", "k1", "k0"]


# index_needs_every_field -- protects the sweeps' queries (documents/orders._narrowed): switched.

def test_index_needs_every_field__matches_the_server(indexed, quirks):
    """Two conditions, each on an indexed field but no index holding both: a collection scan
    exactly where the flag says (mongod answers from one of the indexes); either alone is an index
    range."""
    scans = "COLLSCAN" in plan_of(indexed.find({"a": {"$lt": 50}, "b": {"$lt": -10}}))
    assert scans == quirks.index_needs_every_field, "the server changed: update wire_quirks"
    assert "COLLSCAN" not in plan_of(indexed.find({"a": {"$lt": 50}}))


def _sweep_orders(now: datetime) -> list[dict]:
    """Orders in every state the sweeps tell apart: statuses, fulfilment statuses, nudged never,
    long ago or lately, outbox entries, merge holds due, not due, released, grouped, elsewhere."""
    old, recent = now - timedelta(hours=1), now - timedelta(seconds=5)
    docs = []
    for i, (status, fstatuses, updated, resent) in enumerate([
            ("awaiting_shipment", ["reserved"], old, None), ("awaiting_shipment", ["dispatched", "reserved"], old, old),
            ("awaiting_shipment", ["reserved"], recent, None), ("awaiting_shipment", ["reserved"], old, recent),
            ("pending_payment", ["reserved"], old, None), ("awaiting_shipment", ["dispatched"], old, None),
            ("awaiting_shipment", [], old, None), ("shipped", ["shipped", "reserved"], old, "null")]):
        doc = {"_id": f"s{i}", "status": status, "updated_at": updated, "placed_at": old + timedelta(minutes=i),
               "routing": {"state": "received" if i % 2 else "routed", "backordered": [{"sku": "SKU-A" if i % 3 else "SKU-B"}]},
               "outbox": [{"state": "pending" if i % 3 == 0 else "sent"}],
               "fulfilments": [{"id": f"s{i}-F{j}", "status": st, "warehouse_id": "W1" if j == 0 else "W2"}
                               for j, st in enumerate(fstatuses)]}
        if resent == "null":
            doc["resent_at"] = None
        elif resent is not None:
            doc["resent_at"] = resent
        docs.append(doc)
    holds = [({"until": old}, "W1"), ({"until": now + timedelta(hours=1)}, "W1"), ({"until": old, "group": "G1"}, "W1"),
             ({"until": old, "released_at": old}, "W1"), ({"until": old}, "W2"), ({"until": None}, "W1")]
    for i, (merge, warehouse) in enumerate(holds):
        docs.append({"_id": f"m{i}", "status": "awaiting_shipment", "updated_at": old, "placed_at": old,
                     "fulfilments": [{"id": f"m{i}-F0", "status": "reserved", "warehouse_id": warehouse,
                                      "merge": {"group": None, "released_at": None, **merge}},
                                     {"id": f"m{i}-F1", "status": "dispatched", "warehouse_id": "W9"}]})
    return docs


def test_index_needs_every_field__narrowed_sweeps_give_the_documented_result(db, monkeypatch):
    """Each sweep query asked whole (the server's own answer, which is MongoDB's whatever plan it
    takes) and narrowed (the indexed part on the server, the rest checked by wire_quirks.matches)
    finds the same orders."""
    from documents import indexes, orders

    now = datetime.now(timezone.utc).replace(microsecond=0)
    indexes.ensure_indexes()
    orders.collection().insert_many([{**d, "channel": "manual", "channel_order_id": d["_id"]} for d in _sweep_orders(now)])
    cutoff = now - timedelta(minutes=1)
    sweeps = {"stuck_in_routing": lambda: orders.stuck_in_routing(cutoff, 50),
              "stalled_dispatch": lambda: orders.stalled_dispatch(cutoff, 50),
              "pending_outbox": lambda: [d["_id"] for d in orders.pending_outbox(cutoff, 50)],
              "waiting_for_stock": lambda: orders.waiting_for_stock("SKU-A", 50),
              "merge_holds_due": lambda: [d["_id"] for d in orders.merge_holds_due(now, 50)],
              "merge_holds_at": lambda: [d["_id"] for d in orders.merge_holds_at("W1", 50)]}
    found = {}
    for narrowed in (False, True):
        monkeypatch.setattr(connection, "quirks", lambda narrowed=narrowed: wire_quirks.Quirks(
            index_needs_every_field=narrowed))
        found[narrowed] = {name: sorted(run()) for name, run in sweeps.items()}
    assert found[True] == found[False]
    assert found[False] == {  # and what each should find, worked out by hand
        "stuck_in_routing": ["s1", "s5", "s7"], "stalled_dispatch": ["m0", "m1", "m2", "m3", "m4", "m5", "s0", "s1"],
        "pending_outbox": ["s0", "s6"], "waiting_for_stock": ["s1", "s2", "s4", "s5"],
        "merge_holds_due": ["m0", "m4"], "merge_holds_at": ["m0", "m1"]}


def test_matches_checks_what_the_server_would_and_refuses_what_it_cannot():
    doc = {"a": [{"b": 1, "c": None}, {"b": 3}], "d": datetime(2026, 1, 1, 0, 0, 0, 999, tzinfo=timezone.utc)}
    assert wire_quirks.matches(doc, {"a.b": 3, "a.c": None, "e": None, "a": {"$elemMatch": {"b": {"$gte": 2}}}})
    assert not wire_quirks.matches(doc, {"a": {"$elemMatch": {"b": 1, "c": {"$ne": None}}}})
    assert wire_quirks.matches(doc, {"d": {"$not": {"$gt": datetime(2026, 1, 1, tzinfo=timezone.utc)}}})  # ms, as stored
    assert wire_quirks.matches(doc, {"a.b": {"$in": [7, 1]}, "e": {"$exists": False}, "a.b ": {"$exists": False}})
    with pytest.raises(ValueError, match=r"\$regex"):
        wire_quirks.matches(doc, {"a.b": {"$regex": "x"}})


# reads_every_match_before_limit -- protects the list's windows, the reconciler's and inbox's
# batches, rebuild's day slices and BATCH_SOCKET_TIMEOUT_MS; not switched.

def test_reads_every_match_before_limit__matches_the_server(indexed, quirks):
    """``find(range).limit(1)``: every match of the range examined exactly where the flag says
    (mongod stops at the limit)."""
    stats = indexed.find({"a": {"$gte": 0}}).limit(1).explain()["executionStats"]
    assert (stats["totalDocsExamined"] == 300) == quirks.reads_every_match_before_limit, \
        "the server changed: update wire_quirks"


def test_reads_every_match_before_limit__windows_give_the_documented_result(descending_in_the_middle):
    """Windows read newest first, one after the other, give the rows of one unbounded read."""
    c, newest = descending_in_the_middle, [("placed_at", -1), ("_id", -1)]
    whole = [d["_id"] for d in c.find({"status": "s"}).sort(newest).limit(2)]
    upper, windowed = None, []
    while len(windowed) < 2:
        lower = (upper or T0 + timedelta(days=3)) - timedelta(days=1)
        windowed += [d["_id"] for d in c.find(queries.window_query({"status": "s"}, lower, upper, False))
                     .sort(newest).limit(2 - len(windowed))]
        upper = lower
    assert windowed == whole == ["r2", "r1"]


# hint_walks_whole_index -- protects every query (none carries a hint); not switched.

def test_hint_walks_whole_index__matches_the_server(db, quirks):
    """A hinted equality takes as long as walking the index, exactly where the flag says (timed:
    the server's explain reports one key examined either way; about 60x measured, 5x asked)."""
    c = db["conformance_hint"]
    c.create_index("a")
    c.insert_many([{"_id": i, "a": i} for i in range(3000)])

    def fastest(query) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            list(query())
            best = min(best, time.perf_counter() - started)
        return best

    hinted = fastest(lambda: c.find({"a": 5}).hint([("a", 1)]))
    plain = fastest(lambda: c.find({"a": 5}))
    assert (hinted > 5 * plain) == quirks.hint_walks_whole_index, \
        f"the server changed: update wire_quirks (hinted {hinted * 1000:.1f} ms, plain {plain * 1000:.1f} ms)"


def test_hint_walks_whole_index__the_planner_picks_the_index_without_one(indexed):
    """Without a hint the planner takes the index the filter names, and the result is the same."""
    assert "a_1" in plan_of(indexed.find({"a": 5}))
    assert ids(indexed.find({"a": 5})) == ids(indexed.find({"a": 5}).hint([("a", 1)])) == [5]
