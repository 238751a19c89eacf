"""Routing table tests: the first rule (one warehouse, else split, else backorder) by hand."""
from __future__ import annotations

import json

import pytest

from router.model import Carrier, FulfilmentLine
from router.routing import plan_fulfilments
from router.statuses import ShippingMethod
from routing_factories import line, network, order, stock, wh

pytestmark = pytest.mark.unit


def parts(decision):
    return [(f.fulfilment_id, f.warehouse_id, [(fl.line_no, fl.quantity) for fl in f.lines])
            for f in decision.fulfilments]


def test_one_warehouse_with_everything_wins_over_a_split():
    o = order(line(1, "A", 2), line(2, "B", 1))
    net = network(wh("W1", rank=1), wh("W2", rank=2))
    s = stock(("A", "W1", 5), ("A", "W2", 5), ("B", "W2", 5))
    assert parts(plan_fulfilments(o, s, net)) == [("O1-F1", "W2", [(1, 2), (2, 1)])]


def test_lower_rank_wins_then_the_nearer_warehouse():
    o = order(line(1, "A", 1), region="ZJ")
    s = stock(("A", "W1", 1), ("A", "W2", 1), ("A", "W3", 1))
    net = network(wh("W1", rank=2, region="ZJ"), wh("W2", rank=1, region="GD"), wh("W3", rank=1, region="ZJ"))
    assert parts(plan_fulfilments(o, s, net)) == [("O1-F1", "W3", [(1, 1)])]


def test_great_circle_distance_decides_between_equal_ranks():
    o = order(line(1, "A", 1), lat=30.27, lon=120.15)  # Hangzhou
    net = network(wh("far", region="ZJ", lat=23.13, lon=113.26), wh("near", region="ZJ", lat=31.23, lon=121.47))
    s = stock(("A", "far", 1), ("A", "near", 1))
    assert parts(plan_fulfilments(o, s, net)) == [("O1-F1", "near", [(1, 1)])]


def test_split_takes_the_warehouse_covering_most_units_first():
    o = order(line(1, "A", 4), line(2, "B", 1))
    net = network(wh("W1"), wh("W2"), wh("W3"))
    s = stock(("A", "W1", 4), ("B", "W2", 1), ("A", "W3", 2), ("B", "W3", 1))
    d = plan_fulfilments(o, s, net)
    assert parts(d) == [("O1-F1", "W1", [(1, 4)]), ("O1-F2", "W2", [(2, 1)])]
    assert d.backordered == ()


def test_units_no_warehouse_can_ship_are_backordered():
    o = order(line(1, "A", 5), line(2, "B", 1))
    d = plan_fulfilments(o, stock(("A", "W1", 3)), network(wh("W1")))
    assert parts(d) == [("O1-F1", "W1", [(1, 3)])]
    assert d.backordered == (FulfilmentLine(1, "A", 2), FulfilmentLine(2, "B", 1))


def test_safety_stock_is_not_sold():
    o = order(line(1, "A", 3))
    d = plan_fulfilments(o, stock(("A", "W1", 4), safety=2), network(wh("W1")))
    assert parts(d) == [("O1-F1", "W1", [(1, 2)])]
    assert d.backordered == (FulfilmentLine(1, "A", 1),)


def test_excluded_inactive_and_other_merchants_warehouses_are_never_used():
    o = order(line(1, "A", 1))
    net = network(wh("X", rank=1), wh("I", rank=1, active=False), wh("M2", "m2", rank=1), wh("OK", rank=9))
    s = stock(("A", "X", 1), ("A", "I", 1), ("A", "M2", 1), ("A", "OK", 1))
    d = plan_fulfilments(o, s, net, exclude_warehouses=frozenset({"X"}))
    assert parts(d) == [("O1-F1", "OK", [(1, 1)])]
    removed = {r["warehouse_id"]: r["removed_by"] for r in d.explanation["merchants"][0]["attempts"][0]["removed"]}
    assert removed == {"X": "not_excluded", "I": "active"}


def test_marketplace_order_is_one_sub_order_per_merchant_numbered_in_line_order():
    o = order(line(1, "B1", 1, merchant="mb"), line(2, "A1", 1, merchant="ma"), line(3, "B2", 1, merchant="mb"))
    net = network(wh("WA", "ma"), wh("WB", "mb"))
    s = stock(("A1", "WA", 1), ("B1", "WB", 1), ("B2", "WB", 1))
    d = plan_fulfilments(o, s, net)
    assert parts(d) == [("O1-F1", "WB", [(1, 1), (3, 1)]), ("O1-F2", "WA", [(2, 1)])]
    assert [f.merchant_id for f in d.fulfilments] == ["mb", "ma"]


def test_two_lines_of_one_sku_share_the_warehouse_stock():
    o = order(line(1, "A", 2), line(2, "A", 2))
    d = plan_fulfilments(o, stock(("A", "W1", 3)), network(wh("W1")))
    assert parts(d) == [("O1-F1", "W1", [(1, 2), (2, 1)])]
    assert d.backordered == (FulfilmentLine(2, "A", 1),)


def test_carrier_serves_the_destination_and_method_lowest_rank_then_id():
    carriers = [Carrier("zto", frozenset({"CN"}), rank=2), Carrier("yto", frozenset({"CN"}), rank=2),
                Carrier("sf", frozenset({"CN"}), frozenset({ShippingMethod.EXPRESS}), rank=1),
                Carrier("ups", frozenset({"US"}), rank=0)]
    o = order(line(1, "A", 1))
    d = plan_fulfilments(o, stock(("A", "W1", 1)), network(wh("W1"), carriers=carriers))
    assert d.fulfilments[0].carrier_id == "yto"
    d = plan_fulfilments(order(line(1, "A", 1), shipping_method=ShippingMethod.EXPRESS),
                         stock(("A", "W1", 1)), network(wh("W1"), carriers=carriers))
    assert d.fulfilments[0].carrier_id == "sf"


def test_explanation_is_json_and_names_rule_version_candidates_and_winner():
    o = order(line(1, "A", 1))
    d = plan_fulfilments(o, stock(("A", "W1", 1), ("A", "W2", 1)), network(wh("W1", rank=1), wh("W2", rank=2)))
    e = json.loads(json.dumps(d.explanation))
    assert e["rules_version"] == "builtin-1"
    m = e["merchants"][0]
    assert m["winner"] == ["W1"]
    assert [c["warehouse_id"] for c in m["attempts"][0]["candidates"]] == ["W1", "W2"]
    assert m["attempts"][0]["candidates"][0]["criteria"]["rank"] == 1
