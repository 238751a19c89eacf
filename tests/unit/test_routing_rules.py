"""Sourcing rules, one criterion or fallback at a time, with outcomes computed by hand."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from router.errors import InvalidRoutingRules
from router.model import Carrier, Customer, FulfilmentLine, Sku
from router.routing import plan_fulfilments
from router.rules import RoutingRules
from router.statuses import ShippingMethod
from routing_factories import line, network, order, stock, wh

pytestmark = pytest.mark.unit


def rules(*strategies, **extra) -> RoutingRules:
    return RoutingRules.from_dict({"version": "t-1", "strategies": list(strategies), **extra})


def placed(decision):
    return [(f.warehouse_id, [(fl.line_no, fl.quantity) for fl in f.lines]) for f in decision.fulfilments]


# --- conditions pick the strategy

HOLD_FIRST = {"name": "review", "action": "hold", "hold_reason": "matched"}


@pytest.mark.parametrize("when, matching, other", [
    ({"channels": ["taobao"]}, {"channel": "taobao"}, {"channel": "web"}),
    ({"merchants": ["m1"]}, {}, {"merchant": "m2"}),
    ({"destinations": ["CN-ZJ"]}, {"region": "ZJ"}, {"region": "GD"}),
    ({"destinations": ["US"]}, {"country": "US", "region": "CA"}, {"country": "CN"}),
    ({"min_order_value": "100"}, {"price": "100.00"}, {"price": "99.99"}),
    ({"max_order_value": "100"}, {"price": "100.00"}, {"price": "100.01"}),
    ({"customer_tiers": ["vip"]}, {"customer": Customer(tier="vip")}, {}),
    ({"shipping_methods": ["express"]}, {"shipping_method": ShippingMethod.EXPRESS}, {}),
    ({"b2b": True}, {"b2b": True}, {}),
])
def test_each_condition_selects_the_strategy(when, matching, other):
    r = rules({**HOLD_FIRST, "when": when}, {"name": "catch-all"})
    net = network(wh("W1", "m1", "m2"))
    s = stock(("A", "W1", 5))

    def make(kw):
        kw = dict(kw)
        ln = line(1, "A", 1, kw.pop("price", "10.00"), merchant=kw.pop("merchant", "m1"))
        return order(ln, **kw)
    assert plan_fulfilments(make(matching), s, net, r).held_reason == "matched"
    d = plan_fulfilments(make(other), s, net, r)
    assert d.held_reason is None and placed(d) == [("W1", [(1, 1)])]


def test_no_matching_strategy_holds_with_a_reason():
    r = rules({"name": "tmall-only", "when": {"channels": ["tmall"]}})
    d = plan_fulfilments(order(line(1, "A", 1)), stock(("A", "W1", 1)), network(wh("W1")), r)
    assert d.held_reason == "no routing strategy matches merchant m1"
    assert d.fulfilments == () and d.backordered == ()


# --- filters

@pytest.mark.parametrize("filter_name, warehouse_kw", [
    ("serves_region", {"serves_regions": frozenset({"US"})}),
    ("product_type", {"product_types": frozenset({"cold"})}),
    ("capacity", {"daily_capacity": 10, "orders_today": 10}),
])
def test_optional_filters_remove_the_warehouse_only_when_listed(filter_name, warehouse_kw):
    net = network(wh("BEST", rank=1, **warehouse_kw), wh("NEXT", rank=2))
    s = stock(("A", "BEST", 1), ("A", "NEXT", 1))
    o = order(line(1, "A", 1))
    d = plan_fulfilments(o, s, net, rules({"name": "f", "filters": [filter_name]}))
    assert placed(d) == [("NEXT", [(1, 1)])]
    removed = d.explanation["merchants"][0]["attempts"][0]["removed"]
    assert removed == [{"warehouse_id": "BEST", "removed_by": filter_name}]
    if filter_name != "product_type":  # a SKU's type is always respected, listed or not
        d = plan_fulfilments(o, s, net, rules({"name": "f", "filters": []}))
        assert placed(d) == [("BEST", [(1, 1)])]


def test_strategy_exclusions_and_stock_filter_are_explained():
    net = network(wh("W1", rank=1), wh("W2", rank=2), wh("W3", rank=3))
    d = plan_fulfilments(order(line(1, "A", 1)), stock(("A", "W1", 1), ("A", "W3", 1)), net,
                         rules({"name": "s", "exclude_warehouses": ["W1"]}))
    assert placed(d) == [("W3", [(1, 1)])]
    assert d.explanation["merchants"][0]["attempts"][0]["removed"] == [
        {"warehouse_id": "W1", "removed_by": "not_excluded"}, {"warehouse_id": "W2", "removed_by": "stock"}]


# --- scoring criteria

def test_region_table_distance():
    r = rules({"name": "s", "scoring": {"tie_breakers": ["distance"], "distance": "region_table"}},
              distances={"table": {"CN-ZJ": {"CN-SH": 170, "CN-GD": 1200}}, "unknown_km": 5000})
    net = network(wh("GD", region="GD"), wh("SH", region="SH"), wh("BJ", region="BJ"))
    d = plan_fulfilments(order(line(1, "A", 1), region="ZJ"), stock(("A", "GD", 1), ("A", "SH", 1), ("A", "BJ", 1)),
                         net, r)
    assert placed(d) == [("SH", [(1, 1)])]
    km = {c["warehouse_id"]: c["criteria"]["distance"] for c in d.explanation["merchants"][0]["attempts"][0]["candidates"]}
    assert km == {"SH": 170.0, "GD": 1200.0, "BJ": 5000.0}


def test_more_stock_on_hand_wins_with_the_stock_criterion():
    r = rules({"name": "s", "scoring": {"tie_breakers": ["stock", "rank"]}})
    net = network(wh("W1", rank=1), wh("W2", rank=2))
    d = plan_fulfilments(order(line(1, "A", 1)), stock(("A", "W1", 3), ("A", "W2", 9)), net, r)
    assert placed(d) == [("W2", [(1, 1)])]


def test_cheaper_freight_wins_with_the_freight_criterion():
    r = rules({"name": "s", "scoring": {"tie_breakers": ["freight", "rank"]}},
              shipping_templates=[{"id": "d", "rates": [{"first_fee": "10"}]},
                                  {"id": "cheap", "warehouse": "W2", "rates": [{"first_fee": "4"}]}])
    net = network(wh("W1", rank=1), wh("W2", rank=2))
    d = plan_fulfilments(order(line(1, "A", 1)), stock(("A", "W1", 1), ("A", "W2", 1)), net, r)
    assert placed(d) == [("W2", [(1, 1)])]
    assert d.fulfilments[0].freight == D("4.00")


def test_weighted_scores_are_scaled_per_criterion():
    # distance 50 / 800 / 8000 km -> 0, 0.0944, 1; rank 1 / 3 / 1 -> 0, 1, 0
    # weights distance 1, rank 0.5: W_near 0 + 0 = 0; W_mid 0.0944 + 0.5; W_far 1 + 0
    r = rules({"name": "s", "scoring": {"mode": "weighted", "weights": {"distance": 1, "rank": 0.5}}})
    net = network(wh("W_far", country="US", region="CA", rank=1), wh("W_mid", region="GD", rank=3),
                  wh("W_near", region="ZJ", rank=1))
    s = stock(("A", "W_far", 1), ("A", "W_mid", 1), ("A", "W_near", 1))
    d = plan_fulfilments(order(line(1, "A", 1)), s, net, r)
    assert placed(d) == [("W_near", [(1, 1)])]
    scores = {c["warehouse_id"]: c["score"] for c in d.explanation["merchants"][0]["attempts"][0]["candidates"]}
    assert scores == {"W_near": 0.0, "W_mid": round(750 / 7950 + 0.5, 6), "W_far": 1.0}


# --- split limits

def test_max_fulfilments_caps_the_split_and_backorders_the_rest():
    r = rules({"name": "s", "split": {"max_fulfilments": 2}})
    net = network(wh("W1"), wh("W2"), wh("W3"))
    s = stock(("A", "W1", 1), ("B", "W2", 1), ("C", "W3", 1))
    d = plan_fulfilments(order(line(1, "A", 1), line(2, "B", 1), line(3, "C", 1)), s, net, r)
    assert placed(d) == [("W1", [(1, 1)]), ("W2", [(2, 1)])]
    assert d.backordered == (FulfilmentLine(3, "C", 1),)


def test_no_split_ships_what_the_best_warehouse_can_and_backorders_the_rest():
    r = rules({"name": "s", "split": {"allow": False}})
    net = network(wh("W1"), wh("W2"))
    s = stock(("A", "W1", 1), ("B", "W2", 2), ("C", "W2", 1))
    d = plan_fulfilments(order(line(1, "A", 1), line(2, "B", 2), line(3, "C", 1)), s, net, r)
    assert placed(d) == [("W2", [(2, 2), (3, 1)])]
    assert d.backordered == (FulfilmentLine(1, "A", 1),)


def test_a_line_is_split_across_warehouses_only_when_the_rules_allow_it():
    net = network(wh("W1", rank=1), wh("W2", rank=2))
    s = stock(("A", "W1", 3), ("A", "W2", 2))
    o = order(line(1, "A", 4))
    d = plan_fulfilments(o, s, net, rules({"name": "s", "split": {"allow_line_split": True}}))
    assert placed(d) == [("W1", [(1, 3)]), ("W2", [(1, 1)])]
    d = plan_fulfilments(o, s, net, rules({"name": "s", "split": {"allow_line_split": False}}))
    assert placed(d) == [("W1", [(1, 3)])]
    assert d.backordered == (FulfilmentLine(1, "A", 1),)


def test_whole_lines_go_to_a_warehouse_that_has_the_whole_line_first():
    net = network(wh("W1", rank=1), wh("W2", rank=2))
    s = stock(("A", "W1", 1), ("B", "W1", 1), ("A", "W2", 3))
    d = plan_fulfilments(order(line(1, "A", 3), line(2, "B", 1)), s, net,
                         rules({"name": "s", "split": {"allow_line_split": False}}))
    assert placed(d) == [("W2", [(1, 3)]), ("W1", [(2, 1)])]


def test_minimum_shipment_value_skips_small_parts_of_a_split():
    # A (50.00) only in W1; B (5.00) only in W2: a 5.00 parcel is below the 20.00 minimum
    r = rules({"name": "s", "split": {"min_shipment_value": "20.00"}})
    net = network(wh("W1"), wh("W2"))
    s = stock(("A", "W1", 1), ("B", "W2", 1))
    d = plan_fulfilments(order(line(1, "A", 1, "50.00"), line(2, "B", 1, "5.00")), s, net, r)
    assert placed(d) == [("W1", [(1, 1)])]
    assert d.backordered == (FulfilmentLine(2, "B", 1),)


def test_minimum_shipment_value_never_blocks_an_order_shipped_whole():
    r = rules({"name": "s", "split": {"min_shipment_value": "20.00"}})
    d = plan_fulfilments(order(line(1, "A", 1, "5.00")), stock(("A", "W1", 1)), network(wh("W1")), r)
    assert placed(d) == [("W1", [(1, 1)])]


# --- fallbacks

SHORT = (order(line(1, "A", 2), line(2, "B", 1)), stock(("A", "W1", 2), ("B", "W2", 1)),
         network(wh("W1"), wh("W2")))


def test_fallback_next_strategy_tries_the_next_matching_one():
    o, s, net = SHORT
    r = rules({"name": "one-parcel", "split": {"allow": False}, "fallback": "next_strategy"},
              {"name": "split", "when": {"channels": ["tmall"]}},
              {"name": "any"})
    d = plan_fulfilments(o, s, net, r)
    assert placed(d) == [("W1", [(1, 2)]), ("W2", [(2, 1)])]
    m = d.explanation["merchants"][0]
    assert m["matching_strategies"] == ["one-parcel", "any"]
    assert [a["strategy"] for a in m["attempts"]] == ["one-parcel", "any"]


def test_fallback_backorder_ships_what_it_can():
    o, s, net = SHORT
    d = plan_fulfilments(o, s, net, rules({"name": "one", "split": {"allow": False}, "fallback": "backorder"}))
    assert placed(d) == [("W1", [(1, 2)])] and d.backordered == (FulfilmentLine(2, "B", 1),)


def test_fallback_hold_holds_the_whole_order_with_the_reason():
    o, s, net = SHORT
    d = plan_fulfilments(o, s, net, rules({"name": "one", "split": {"allow": False}, "fallback": "hold",
                                           "hold_reason": "would split: ask the merchant"}))
    assert d.held_reason == "would split: ask the merchant"
    assert d.fulfilments == () and d.backordered == ()


def test_next_strategy_as_the_last_one_falls_back_to_backorder():
    o, s, net = SHORT
    d = plan_fulfilments(o, s, net, rules({"name": "one", "split": {"allow": False}, "fallback": "next_strategy"}))
    assert placed(d) == [("W1", [(1, 2)])] and d.backordered == (FulfilmentLine(2, "B", 1),)
    assert d.explanation["merchants"][0]["fallback"] == "backorder"


# --- carriers

def test_carrier_preference_by_cost_then_rank():
    carriers = [Carrier("sf", frozenset({"CN"}), rank=1), Carrier("zto", frozenset({"CN"}), rank=2),
                Carrier("dhl", frozenset({"US"}), rank=0)]
    r = rules({"name": "s"}, carrier_preference=["cost", "rank"],
              carrier_rates={"sf": {"rates": [{"first_fee": "12"}]}, "zto": {"rates": [{"first_fee": "6"}]}})
    d = plan_fulfilments(order(line(1, "A", 1)), stock(("A", "W1", 1)), network(wh("W1"), carriers=carriers), r)
    assert d.fulfilments[0].carrier_id == "zto"
    assert [c["carrier_id"] for c in d.explanation["fulfilments"][0]["carriers"]] == ["zto", "sf"]
    d = plan_fulfilments(order(line(1, "A", 1)), stock(("A", "W1", 1)), network(wh("W1"), carriers=carriers))
    assert d.fulfilments[0].carrier_id == "sf"


def test_no_carrier_for_the_destination_leaves_the_carrier_open():
    d = plan_fulfilments(order(line(1, "A", 1), country="FR", region=""), stock(("A", "W1", 1)),
                         network(wh("W1"), carriers=[Carrier("sf", frozenset({"CN"}))]))
    assert d.fulfilments[0].carrier_id is None
    assert d.explanation["fulfilments"][0]["carriers"] == []


# --- validation

@pytest.mark.parametrize("raw, field", [
    ({"strategies": [{"name": "a"}]}, "version"),
    ({"version": "1", "strategies": []}, "strategies"),
    ({"version": "1", "strategies": [{"when": {}}]}, "strategies[0].name"),
    ({"version": "1", "strategies": [{"name": "a"}, {"name": "a"}]}, "strategies[1].name"),
    ({"version": "1", "strategies": [{"name": "a", "when": {"channel": ["x"]}}]}, "strategies[0].when.channel"),
    ({"version": "1", "strategies": [{"name": "a", "when": {"shipping_methods": ["drone"]}}]},
     "strategies[0].when.shipping_methods[0]"),
    ({"version": "1", "strategies": [{"name": "a", "when": {"min_order_value": "5", "max_order_value": "1"}}]},
     "strategies[0].when.max_order_value"),
    ({"version": "1", "strategies": [{"name": "a", "when": {"b2b": "yes"}}]}, "strategies[0].when.b2b"),
    ({"version": "1", "strategies": [{"name": "a", "filters": ["magic"]}]}, "strategies[0].filters[0]"),
    ({"version": "1", "strategies": [{"name": "a", "scoring": {"tie_breakers": ["luck"]}}]},
     "strategies[0].scoring.tie_breakers[0]"),
    ({"version": "1", "strategies": [{"name": "a", "scoring": {"mode": "weighted"}}]}, "strategies[0].scoring.weights"),
    ({"version": "1", "strategies": [{"name": "a", "scoring": {"weights": {"rank": 1}}}]},
     "strategies[0].scoring.weights"),
    ({"version": "1", "strategies": [{"name": "a", "split": {"max_fulfilments": 0}}]},
     "strategies[0].split.max_fulfilments"),
    ({"version": "1", "strategies": [{"name": "a", "split": {"min_shipment_value": "lots"}}]},
     "strategies[0].split.min_shipment_value"),
    ({"version": "1", "strategies": [{"name": "a", "fallback": "pray"}]}, "strategies[0].fallback"),
    ({"version": "1", "strategies": [{"name": "a"}], "distances": {"table": {"CN": {"US": -1}}}},
     "distances.table.CN.US"),
    ({"version": "1", "strategies": [{"name": "a"}], "carrier_preference": ["speed"]}, "carrier_preference[0]"),
    ({"version": "1", "strategies": [{"name": "a"}], "colour": "red"}, "colour"),
])
def test_invalid_rules_name_the_field(raw, field):
    with pytest.raises(InvalidRoutingRules) as err:
        RoutingRules.from_dict(raw)
    assert err.value.field == field
    assert field in str(err.value)


# --- a realistic marketplace order

def test_marketplace_order_of_three_merchants_to_another_region_when_the_nearest_warehouse_lacks_a_sku():
    """Beijing customer; apparel (two warehouses), electronics (one), tea (two, nearest short of green tea).

    Freight: 8.00 first kilo + 2.00 per started kilo in CN, free from 199.00; Xinjiang is remote.
    """
    skus = {"TSHIRT": Sku("TSHIRT", "apparel", D("79.00"), 300), "JEANS": Sku("JEANS", "apparel", D("199.00"), 800),
            "EARBUDS": Sku("EARBUDS", "electronics", D("299.00"), 200),
            "OOLONG": Sku("OOLONG", "tea", D("58.00"), 250), "GREEN": Sku("GREEN", "tea", D("45.00"), 250)}
    net = network(
        wh("APP-SH", "apparel", region="SH", lat=31.23, lon=121.47, rank=1),
        wh("APP-GD", "apparel", region="GD", lat=23.13, lon=113.26, rank=1),
        wh("ELE-GD", "electronics", region="GD", lat=22.54, lon=114.06, rank=1),
        wh("TEA-HE", "tea", region="HE", lat=38.04, lon=114.51, rank=1),   # Shijiazhuang, nearest to Beijing
        wh("TEA-FJ", "tea", region="FJ", lat=26.07, lon=119.30, rank=1),   # Fuzhou
        skus=skus, carriers=[Carrier("sf", frozenset({"CN"}), rank=1), Carrier("ems", rank=5)])
    s = stock(("TSHIRT", "APP-SH", 10), ("JEANS", "APP-SH", 1), ("TSHIRT", "APP-GD", 10), ("JEANS", "APP-GD", 5),
              ("EARBUDS", "ELE-GD", 3), ("OOLONG", "TEA-HE", 20), ("OOLONG", "TEA-FJ", 20), ("GREEN", "TEA-FJ", 20))
    r = rules({"name": "marketplace", "when": {"channels": ["tmall"]},
               "scoring": {"tie_breakers": ["distance", "rank"]}},
              shipping_templates=[{"id": "cn", "rates": [
                  {"regions": ["CN"], "first_units": 1000, "first_fee": "8.00", "additional_units": 1000,
                   "additional_fee": "2.00", "free_above": "199.00"}]}])
    o = order(line(1, "TSHIRT", 2, "79.00", merchant="apparel"), line(2, "EARBUDS", 1, "299.00", merchant="electronics"),
              line(3, "JEANS", 1, "199.00", merchant="apparel"), line(4, "OOLONG", 1, "58.00", merchant="tea"),
              line(5, "GREEN", 2, "45.00", merchant="tea"),
              channel="tmall", region="BJ", lat=39.90, lon=116.40, order_discount=D("30.00"))
    d = plan_fulfilments(o, s, net, r)
    assert d.held_reason is None and d.backordered == ()
    assert [(f.fulfilment_id, f.merchant_id, f.warehouse_id, f.carrier_id, [(fl.line_no, fl.quantity) for fl in f.lines])
            for f in d.fulfilments] == [
        ("O1-F1", "apparel", "APP-SH", "sf", [(1, 2), (3, 1)]),   # Shanghai is nearer Beijing than Guangzhou
        ("O1-F2", "electronics", "ELE-GD", "sf", [(2, 1)]),
        ("O1-F3", "tea", "TEA-FJ", "sf", [(4, 1), (5, 2)]),       # TEA-HE is nearer but has no green tea
    ]
    # apparel 357.00 and electronics 299.00 ship free; tea 148.00, 750 g: 8.00
    assert [f.freight for f in d.fulfilments] == [D("0.00"), D("0.00"), D("8.00")]
    tea = d.explanation["merchants"][2]["attempts"][0]["candidates"]
    assert [(c["warehouse_id"], c["covers_all"]) for c in tea] == [("TEA-HE", False), ("TEA-FJ", True)]

    from router.money import price_order
    p = price_order(o, d)
    # goods 158 + 299 + 199 + 58 + 90 = 804.00; 30.00 order discount by goods
    assert p.order.to_dict() == {"goods": "804.00", "discount": "30.00", "freight": "8.00", "tax": "0.00",
                                 "payable": "782.00"}
    assert {m: a.payable for m, a in p.merchants.items()} == {
        "apparel": D("357.00") - D("13.32"), "electronics": D("299.00") - D("11.16"),
        "tea": D("148.00") - D("5.52") + D("8.00")}
