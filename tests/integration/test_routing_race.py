"""Routing through RabbitMQ and the MongoDB-wire server when orders compete for scarce stock,
plus simulation and replay of stored decisions."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from documents import routing_inputs
from documents import stock as stock_docs
from router.routing import replay
from tests.helpers import eventually, get_order, stock_of, http

pytestmark = pytest.mark.integration


def test_twenty_concurrent_orders_for_scarce_stock_never_oversell(api, worker, seeded):
    # Given 15 units of SKU-A in all (10 east, 5 west) and 20 orders of 1-2 units each
    bodies = [seeded.order([("SKU-A", 1 + i % 2)], payment_method="cod") for i in range(20)]
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda b: http.post(f"{api}/v1/channels/manual/orders", json=b, timeout=10), bodies))
    ids = [r.json()["order_id"] for r in responses]
    assert all(r.status_code == 202 for r in responses)

    # Then every order ends routed, backordered or held, and no unit is promised twice
    final = [eventually(lambda oid=oid: (o := get_order(api, oid))["routing"]["state"] != "received" and o,
                        what=f"{oid} routed") for oid in ids]
    states = {o["routing"]["state"] for o in final}
    assert states <= {"routed", "backordered", "held"}
    reserved = {"WH-EAST": 0, "WH-WEST": 0}
    for o in final:
        for f in o["fulfilments"]:
            reserved[f["warehouse_id"]] += sum(l["quantity"] for l in f["lines"])
    east, west = stock_of(api, "SKU-A", "WH-EAST"), stock_of(api, "SKU-A", "WH-WEST")
    assert reserved == {"WH-EAST": east["reserved"], "WH-WEST": west["reserved"]}
    for level, on_hand in ((east, 10), (west, 5)):
        assert level["on_hand"] == on_hand and level["available"] >= 0
        assert level["on_hand"] == level["available"] + level["reserved"]
    assert east["reserved"] + west["reserved"] <= 15
    demand = sum(1 + i % 2 for i in range(20))  # 30 units asked for 15 in stock
    placed = east["reserved"] + west["reserved"]
    backordered = sum(b["quantity"] for o in final for b in o["routing"].get("backordered", []))
    assert placed + backordered + sum(sum(l["quantity"] for l in o["lines"]) for o in final
                                      if o["routing"]["state"] == "held") == demand
    # (a line split across both warehouses holds under the same key in each: sum per row, not per key)
    assert sum(v for row in stock_docs.levels("SKU-A") for v in (row.get("holds") or {}).values()) == placed


def test_simulation_routes_without_reserving_and_a_stored_decision_replays(api, worker, seeded):
    body = seeded.order([("SKU-A", 12)], payment_method="cod")
    simulated = http.post(f"{api}/v1/routing/simulate", json=body, timeout=5).json()
    assert [(f["warehouse_id"], f["lines"][0]["quantity"]) for f in simulated["fulfilments"]] == [
        ("WH-EAST", 10), ("WH-WEST", 2)]
    assert stock_of(api, "SKU-A", "WH-EAST")["reserved"] == 0  # nothing held by a simulation

    order_id = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5).json()["order_id"]
    order = eventually(lambda: (o := get_order(api, order_id))["routing"]["state"] == "routed" and o, what="routed")
    replayed = replay({"inputs": routing_inputs.inputs_of(order["routing"]["decision"])})
    assert [(f.warehouse_id, [(l.sku, l.quantity) for l in f.lines]) for f in replayed.fulfilments] == [
        (f["warehouse_id"], [(l["sku"], l["quantity"]) for l in f["lines"]]) for f in order["fulfilments"]]


def test_the_recorded_inputs_live_apart_from_the_order_and_its_decision_replays_through_the_api(api, worker, seeded):
    # Given two orders routed over the same network
    ids = [http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([(sku, 1)], payment_method="cod"),
                     timeout=5).json()["order_id"] for sku in ("SKU-A", "SKU-A")]
    routed = [eventually(lambda oid=oid: (o := get_order(api, oid))["routing"]["state"] == "routed" and o,
                         what=f"{oid} routed") for oid in ids]

    # Then each order names its inputs instead of holding them, and the network is stored once
    for o in routed:
        assert "inputs" not in o["routing"]["decision"]
        assert o["routing"]["decision"]["inputs_ref"].startswith(f"decision:{o['order_id']}:")
    records = [routing_inputs.collection().find_one({"_id": o["routing"]["decision"]["inputs_ref"]}) for o in routed]
    refs = {r["inputs"]["network_ref"] for r in records}
    assert len(refs) == 1 and routing_inputs.collection().count_documents({"_id": refs.pop()}) == 1

    # And each decision's record expires after the retention (180 days by default), by a TTL index
    assert all(r["expire_at"] - r["created_at"] == timedelta(days=180) for r in records)
    ttl = [i for i in routing_inputs.collection().list_indexes() if "expireAfterSeconds" in i]
    assert [(list(i["key"]), i["expireAfterSeconds"]) for i in ttl] == [(["expire_at"], 0)]

    # When the first order's decision is replayed through the API
    answer = http.get(f"{api}/v1/orders/{ids[0]}/routing/replay", timeout=5)

    # Then today's code places the same units in the same warehouse
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["same"] is True
    assert [(f["warehouse_id"], f["lines"]) for f in body["replayed"]["fulfilments"]] == [
        (f["warehouse_id"], f["lines"]) for f in routed[0]["fulfilments"]]


def test_replaying_an_order_without_recorded_inputs_says_why(api, worker, seeded):
    # Given an order rejected before any routing decision (an unknown SKU)
    order_id = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("NO-SUCH-SKU", 1)]),
                         timeout=5).json()["order_id"]
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "rejected", what="rejected")

    # Then its replay is refused with the reason, and an unknown order is not found
    refused = http.get(f"{api}/v1/orders/{order_id}/routing/replay", timeout=5)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_recorded_inputs"
    assert http.get(f"{api}/v1/orders/NOPE-1/routing/replay", timeout=5).status_code == 404


def test_rules_are_replaced_only_with_a_valid_new_version(api, seeded):
    bad = http.put(f"{api}/v1/routing/rules", json={"version": "v2", "strategies": [{"scoring": {"mode": "x"}}]},
                    timeout=5)
    assert bad.status_code == 422 and any(k.startswith("strategies") for k in bad.json()["error"]["details"])
    good = {"version": "v2", "strategies": [{"name": "default", "scoring": {"tie_breakers": ["rank"]}}]}
    assert http.put(f"{api}/v1/routing/rules", json=good, timeout=5).status_code == 200
    assert http.put(f"{api}/v1/routing/rules", json=good, timeout=5).status_code == 409
    assert http.get(f"{api}/v1/routing/rules", timeout=5).json()["rules"]["version"] == "v2"


def test_recording_the_same_inputs_from_many_threads_at_once_stores_each_record_once(db):
    # Given one decision's explanation recorded by 8 threads at once (redelivered routing messages)
    from datetime import datetime, timezone

    explanation = {"schema": 1, "inputs": {"schema": 1, "order": {"order_id": "O-1"}, "stock": [],
                                           "network": {"warehouses": [{"id": "WH-1"}], "carriers": []}}}
    now = datetime.now(timezone.utc)
    with ThreadPoolExecutor(8) as pool:
        refs = list(pool.map(lambda _: routing_inputs.detach("O-1", explanation, now, 180)["inputs_ref"], range(8)))

    # Then all name one record, stored once beside one network record, and it reads back whole
    assert len(set(refs)) == 1
    assert routing_inputs.collection().count_documents({}) == 2
    assert routing_inputs.inputs_of({"inputs_ref": refs[0]}) == explanation["inputs"]
