"""Properties every routing decision keeps, whatever the order, stock and network."""
from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings

from router.money import price_order
from router.routing import plan_fulfilments
from routing_factories import routing_inputs

pytestmark = pytest.mark.unit

SETTINGS = settings(max_examples=80, deadline=None)


@SETTINGS
@given(routing_inputs())
def test_every_ordered_unit_is_in_exactly_one_fulfilment_or_backordered(inputs):
    order, stock, network, exclude = inputs
    decision = plan_fulfilments(order, stock, network, exclude_warehouses=exclude)
    if decision.held_reason:
        assert not decision.fulfilments and not decision.backordered
        return
    placed = Counter()
    for f in decision.fulfilments:
        for fl in f.lines:
            assert fl.quantity > 0
            placed[fl.line_no] += fl.quantity
    for b in decision.backordered:
        assert b.quantity > 0
        placed[b.line_no] += b.quantity
    assert placed == Counter({ln.line_no: ln.quantity for ln in order.lines})


@SETTINGS
@given(routing_inputs())
def test_no_fulfilment_goes_to_a_warehouse_lacking_stock_or_not_of_the_merchant(inputs):
    order, stock, network, exclude = inputs
    decision = plan_fulfilments(order, stock, network, exclude_warehouses=exclude)
    warehouses = {w.id: w for w in network.warehouses}
    taken = Counter()
    for f in decision.fulfilments:
        w = warehouses[f.warehouse_id]
        assert f.merchant_id in w.merchant_ids
        assert w.active and w.id not in exclude
        for fl in f.lines:
            taken[(fl.sku, w.id)] += fl.quantity
    for key, qty in taken.items():
        level = stock[key]
        assert qty <= level.available - level.safety_stock


@SETTINGS
@given(routing_inputs())
def test_fulfilment_ids_are_numbered_from_one_and_carriers_serve_the_destination(inputs):
    order, stock, network, exclude = inputs
    decision = plan_fulfilments(order, stock, network, exclude_warehouses=exclude)
    assert [f.fulfilment_id for f in decision.fulfilments] == [
        f"{order.order_id}-F{n}" for n in range(1, len(decision.fulfilments) + 1)]
    carriers = {c.id: c for c in network.carriers}
    for f in decision.fulfilments:
        if f.carrier_id is not None:
            c = carriers[f.carrier_id]
            assert order.shipping_method in c.service_levels
            assert not c.regions or order.address.country in c.regions


@SETTINGS
@given(routing_inputs())
def test_decision_is_deterministic(inputs):
    order, stock, network, exclude = inputs
    first = plan_fulfilments(order, stock, network, exclude_warehouses=exclude)
    again = plan_fulfilments(order, dict(reversed(list(stock.items()))), network, exclude_warehouses=exclude)
    assert first == again


@SETTINGS
@given(routing_inputs())
def test_money_adds_up_to_the_cent_at_every_level(inputs):
    order, stock, network, exclude = inputs
    decision = plan_fulfilments(order, stock, network, exclude_warehouses=exclude)
    pricing = price_order(order, decision)
    levels = [pricing.lines, pricing.fulfilments, pricing.merchants, {"order": pricing.order}]
    for level in levels:
        for a in level.values():
            assert a.payable == a.goods - a.discount + a.freight
            for amount in (a.goods, a.discount, a.freight, a.payable):
                assert amount == amount.quantize(order_quantum(order))
    for level in levels[:3]:
        for field in ("goods", "discount", "freight", "payable"):
            assert sum(getattr(a, field) for a in level.values()) == getattr(pricing.order, field)
    assert pricing.order.goods == sum(ln.goods for ln in order.lines)
    assert pricing.order.discount == sum(ln.discount for ln in order.lines) + order.order_discount
    if order.shipping_fee is not None:
        assert pricing.order.freight == order.shipping_fee
    else:
        assert pricing.order.freight == sum(f.freight for f in decision.fulfilments)
    prices = {ln.line_no: ln.unit_price for ln in order.lines}
    for f in decision.fulfilments:  # cent prices: a line's goods split by quantity exactly
        assert pricing.fulfilments[f.fulfilment_id].goods == sum(prices[fl.line_no] * fl.quantity for fl in f.lines)


def order_quantum(order):
    from router.money import currency_quantum
    return currency_quantum(order.currency)


# --- the same properties under random sourcing rules

from hypothesis import strategies as st  # noqa: E402

from router.routing import replay  # noqa: E402
from router.rules import RoutingRules  # noqa: E402
from routing_factories import rules_dicts  # noqa: E402


@SETTINGS
@given(routing_inputs(), rules_dicts())
def test_rules_never_break_conservation_filters_max_splits_or_min_value(inputs, raw_rules):
    order, stock, network, exclude = inputs
    rules = RoutingRules.from_dict(raw_rules)
    decision = plan_fulfilments(order, stock, network, rules, exclude_warehouses=exclude)
    if decision.held_reason:
        assert not decision.fulfilments and not decision.backordered
        return
    _assert_every_unit_placed_once(order, decision)
    by_name = {s.name: s for s in rules.strategies}
    warehouses = {w.id: w for w in network.warehouses}
    for m in decision.explanation["merchants"]:
        strategy = by_name[m["attempts"][-1]["strategy"]]
        mine = [f for f in decision.fulfilments if f.merchant_id == m["merchant_id"]]
        _assert_split_as_the_strategy_allows(strategy, mine, m["merchant_id"], order, decision)
        for f in mine:
            _assert_warehouse_passes_the_filters(warehouses[f.warehouse_id], f, strategy, order, network, exclude)
    pricing = price_order(order, decision)
    assert sum(a.payable for a in pricing.fulfilments.values()) == pricing.order.payable
    assert pricing.order.payable == pricing.order.goods - pricing.order.discount + pricing.order.freight


def _assert_every_unit_placed_once(order, decision) -> None:
    placed = Counter()
    for f in decision.fulfilments:
        for fl in f.lines:
            placed[fl.line_no] += fl.quantity
    for b in decision.backordered:
        placed[b.line_no] += b.quantity
    assert placed == Counter({ln.line_no: ln.quantity for ln in order.lines})


def _assert_split_as_the_strategy_allows(strategy, mine, merchant_id, order, decision) -> None:
    """At most max_parts parts, each worth the minimum shipment value (unless the merchant's
    sub-order ships whole), and a line in one part unless line splits are allowed."""
    lines = {ln.line_no: ln for ln in order.lines}
    if strategy.max_parts is not None:
        assert len(mine) <= strategy.max_parts
    whole = len(mine) == 1 and not any(lines[b.line_no].merchant_id == merchant_id for b in decision.backordered)
    if strategy.min_shipment_value is not None and not whole:
        for f in mine:
            assert sum(lines[fl.line_no].unit_price * fl.quantity for fl in f.lines) >= strategy.min_shipment_value
    if not strategy.allow_line_split:
        per_line = Counter(fl.line_no for f in mine for fl in f.lines)
        assert all(n == 1 for n in per_line.values())


def _assert_warehouse_passes_the_filters(w, f, strategy, order, network, exclude) -> None:
    assert w.active and w.id not in exclude and f.merchant_id in w.merchant_ids
    if "capacity" in strategy.filters and w.daily_capacity is not None:
        assert w.orders_today < w.daily_capacity
    for fl in f.lines:  # a SKU's product type is always respected
        assert not w.product_types or network.skus[fl.sku].product_type in w.product_types
    if "serves_region" in strategy.filters and w.serves_regions:
        assert order.address.country in w.serves_regions


@SETTINGS
@given(routing_inputs(), st.none() | rules_dicts())
def test_replaying_the_recorded_inputs_gives_the_same_decision(inputs, raw_rules):
    order, stock, network, exclude = inputs
    rules = RoutingRules.from_dict(raw_rules) if raw_rules else None
    decision = plan_fulfilments(order, stock, network, rules, exclude_warehouses=exclude)
    record = json.loads(json.dumps(decision.explanation))
    assert replay(record) == decision
    assert replay({"explanation": record}) == decision


@settings(max_examples=60, deadline=None)
@given(rules_dicts())
def test_rules_survive_a_round_trip_through_their_plain_form(raw_rules):
    rules = RoutingRules.from_dict(raw_rules)
    assert RoutingRules.from_dict(json.loads(json.dumps(rules.to_dict()))) == rules


@SETTINGS
@given(routing_inputs(max_warehouses=30))
def test_an_explanation_lists_a_bounded_few_warehouses_and_counts_the_rest(inputs):
    from router.sourcing import EXPLAINED

    order, stock, network, exclude = inputs
    decision = plan_fulfilments(order, stock, network, exclude_warehouses=exclude)
    used = {f.warehouse_id for f in decision.fulfilments}
    for m in decision.explanation["merchants"]:
        serving = sum(m["merchant_id"] in w.merchant_ids for w in network.warehouses)
        for attempt in m["attempts"]:
            if "candidates" not in attempt:  # a hold: nothing was sourced
                continue
            listed = [c["warehouse_id"] for c in attempt["candidates"]]
            parts = {p["warehouse_id"] for p in attempt["parts"]}
            # the best EXPLAINED candidates, then only those that got a part
            assert len(listed) <= EXPLAINED + len(parts) and parts <= set(listed)
            assert len(attempt["removed"]) <= EXPLAINED
            # every warehouse serving the merchant is a candidate or removed, listed or counted
            assert len(listed) + attempt.get("candidates_not_listed", 0) + len(attempt["removed"]) \
                + sum(attempt.get("removed_not_listed", {}).values()) == serving
        if m.get("winner"):
            assert set(m["winner"]) <= used
