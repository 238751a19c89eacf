"""Backorders that resolve (router/backorders.py, the lifecycle and timers around them), holds an
approval ends, capacity and the unit-accounting invariants: the pure parts, by hand and as
properties."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router import backorders, invariants, lifecycle, routing_record
from router.errors import InvalidDecisionRecord
from router.fulfilment_flow import derive_shipment_status
from router.model import FulfilmentLine
from router.money import Amounts, price_order
from router.order_state import OrderState
from router.routing import plan_fulfilments, replay
from router.rules import RoutingRules
from router.statuses import FulfilmentStatus as F
from router.statuses import OrderStatus, ShipmentStatus
from router.timers import Deadlines, backorder_cancel_deadline, backorder_deadline
from routing_factories import line, network, order, routing_inputs, stock, wh

pytestmark = pytest.mark.unit
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=timezone.utc)
SETTINGS = settings(max_examples=80, deadline=None)
WEEK = timedelta(days=7)


def money(goods: str, discount: str = "0", freight: str = "0") -> Amounts:
    return Amounts.of(Decimal(goods), Decimal(discount), Decimal(freight))


def payable_holds(a: Amounts) -> bool:
    return a.payable == a.goods - a.discount + a.freight + getattr(a, "tax", Decimal(0))


# --- the backorder's units and money -------------------------------------------------------------

def test_eight_ordered_against_five_route_five_and_backorder_three_with_their_money():
    the_order = order(line(1, "A", 8, price="10.00"))
    decision = plan_fulfilments(the_order, stock(("A", "W1", 5)), network(wh("W1")))
    assert [fl.quantity for f in decision.fulfilments for fl in f.lines] == [5]
    assert decision.backordered == (FulfilmentLine(1, "A", 3),)
    pricing = price_order(the_order, decision)
    entries = backorders.from_decision(decision.backordered, pricing.fulfilments["backordered"],
                                       {1: Decimal("10.00")}, "CNY", NOW)
    assert [(e.line_no, e.quantity, e.amounts.goods, e.since) for e in entries] == [(1, 3, Decimal("30.00"), NOW)]
    assert pricing.fulfilments[decision.fulfilments[0].fulfilment_id].goods + entries[0].amounts.goods \
        == pricing.order.goods


def test_a_retry_moves_the_placed_units_and_their_share_of_the_money():
    entries = (backorders.Backorder(1, "A", 3, money("30.00", "3.00", "1.00"), NOW),
               backorders.Backorder(2, "B", 2, money("8.00"), NOW))
    placed, left = backorders.take(entries, {"O1-F2": {1: 2}, "O1-F3": {1: 1, 2: 1}}, "USD")
    assert placed["O1-F2"].goods == Decimal("20.00") and placed["O1-F3"].goods == Decimal("14.00")
    assert [(e.line_no, e.quantity, e.amounts.goods) for e in left] == [(2, 1, Decimal("4.00"))]
    assert placed["O1-F2"] + placed["O1-F3"] + backorders.total(left) == backorders.total(entries)
    with pytest.raises(ValueError):
        backorders.take(entries, {"O1-F2": {1: 4}}, "USD")
    with pytest.raises(ValueError):
        backorders.take(entries, {"O1-F2": {9: 1}}, "USD")


@st.composite
def backorder_and_placement(draw):
    lines = draw(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 5000), st.integers(0, 500),
                                    st.integers(0, 900)), min_size=1, max_size=4, unique_by=lambda t: t[0]))
    entries = []
    for n, (q, goods, disc, freight) in enumerate(lines, start=1):
        g = Decimal(goods) / 100
        entries.append(backorders.Backorder(n, f"S{n}", q, money(str(g), str(min(g, Decimal(disc) / 100)),
                                                                 str(Decimal(freight) / 100)),
                                            NOW - timedelta(days=draw(st.integers(0, 9)))))
    placed: dict[str, dict[int, int]] = {}
    for e in entries:
        left = e.quantity
        for fid in ("O1-F2", "O1-F3"):
            take = draw(st.integers(0, left))
            left -= take
            if take:
                placed.setdefault(fid, {})[e.line_no] = take
    return tuple(entries), placed


@SETTINGS
@given(backorder_and_placement())
def test_taking_from_a_backorder_conserves_units_and_money_to_the_cent(case):
    entries, placed = case
    moved, left = backorders.take(entries, placed, "USD")
    total = backorders.total(left)
    for a in moved.values():
        total += a
        assert payable_holds(a) and all(x % Decimal("0.01") == 0 for x in (a.goods, a.discount, a.freight))
    assert total == backorders.total(entries)
    units = Counter({e.line_no: e.quantity for e in left})
    for qty in placed.values():
        units.update(qty)
    assert units == Counter({e.line_no: e.quantity for e in entries})
    assert all(e.quantity > 0 and payable_holds(e.amounts) for e in left)


@SETTINGS
@given(backorder_and_placement(), st.integers(0, 12))
def test_entries_expire_exactly_when_their_wait_is_over(case, days):
    entries, _ = case
    now = NOW + timedelta(days=days)
    expired, waiting = backorders.expired(entries, now, lambda e: WEEK)
    assert sorted(expired + waiting, key=lambda e: e.line_no) == sorted(entries, key=lambda e: e.line_no)
    assert all(e.since + WEEK <= now for e in expired) and all(e.since + WEEK > now for e in waiting)
    due = backorders.cancel_due(entries, lambda e: WEEK)
    assert due == min(e.since for e in entries) + WEEK
    assert bool(expired) == (due <= now)


def test_entries_of_one_line_merge_keeping_the_oldest_start():
    a = backorders.Backorder(1, "A", 2, money("20.00"), NOW)
    b = backorders.Backorder(1, "A", 1, money("10.00"), NOW - timedelta(days=1))
    (merged,) = backorders.merge([a, b])
    assert (merged.quantity, merged.amounts.goods, merged.since) == (3, Decimal("30.00"), NOW - timedelta(days=1))
    stored = backorders.from_dict(merged.to_dict(), NOW)
    assert stored == merged
    legacy = backorders.from_dict({"line_no": 1, "sku": "A", "quantity": 2}, NOW)
    assert legacy.amounts == Amounts() and legacy.since == NOW


# --- the order while units wait -----------------------------------------------------------------

@given(st.lists(st.sampled_from(list(F)), max_size=5))
def test_with_units_outstanding_an_order_is_at_most_partially_shipped(statuses):
    assert derive_shipment_status(statuses, outstanding=True) in (ShipmentStatus.UNSHIPPED,
                                                                  ShipmentStatus.PARTIALLY_SHIPPED)
    if derive_shipment_status(statuses) is not ShipmentStatus.UNSHIPPED:
        assert derive_shipment_status(statuses, outstanding=True) is ShipmentStatus.PARTIALLY_SHIPPED


def waiting_order(units: int, *statuses: F) -> OrderState:
    return OrderState("O1", status=OrderStatus.AWAITING_SHIPMENT,
                      fulfilments={f"O1-F{i}": s for i, s in enumerate(statuses, start=1)},
                      backordered_units=units)


def test_the_last_live_fulfilment_shipping_does_not_ship_an_order_with_units_waiting():
    change = lifecycle.on_fulfilment_event(waiting_order(3, F.PACKED), "O1-F1", "shipped", NOW, "wms:W1")
    after = change.apply(waiting_order(3, F.PACKED))
    assert after.status is OrderStatus.AWAITING_SHIPMENT and after.shipment_status is ShipmentStatus.PARTIALLY_SHIPPED
    assert lifecycle.on_fulfilment_event(waiting_order(0, F.PACKED), "O1-F1", "shipped", NOW,
                                         "wms:W1").apply(waiting_order(0, F.PACKED)).status is OrderStatus.SHIPPED


def test_cancelling_the_waiting_units_ships_an_order_whose_fulfilments_all_shipped():
    state = waiting_order(3, F.DELIVERED)
    state = OrderState(**{**state.__dict__, "shipment_status": ShipmentStatus.PARTIALLY_SHIPPED})
    after = lifecycle.on_backorder_cancelled(state, 0, NOW).apply(state)
    assert after.status is OrderStatus.SHIPPED and after.shipment_status is ShipmentStatus.DELIVERED
    still = lifecycle.on_backorder_cancelled(state, 1, NOW).apply(state)
    assert still.status is OrderStatus.AWAITING_SHIPMENT and still.shipment_status is ShipmentStatus.PARTIALLY_SHIPPED
    with pytest.raises(ValueError):
        lifecycle.on_backorder_cancelled(state, 4, NOW)


def test_backorder_timers_retry_while_units_wait_and_cancel_after_the_merchants_wait():
    d = Deadlines()
    assert backorder_deadline(OrderStatus.AWAITING_SHIPMENT, "routed", NOW, d, 3) == NOW + timedelta(minutes=15)
    assert backorder_deadline(OrderStatus.AWAITING_SHIPMENT, "backordered", NOW, d) == NOW + timedelta(minutes=15)
    assert backorder_deadline(OrderStatus.AWAITING_SHIPMENT, "routed", NOW, d, 0) is None
    assert backorder_deadline(OrderStatus.ON_HOLD, "held", NOW, d, 3) is None
    assert backorder_deadline(OrderStatus.SHIPPED, "routed", NOW, d, 3) is None
    assert backorder_cancel_deadline(OrderStatus.AWAITING_SHIPMENT, NOW) == NOW
    assert backorder_cancel_deadline(OrderStatus.CANCELLED, NOW) is None
    assert d.backorder_cancel == WEEK
    per_merchant = {"merchants": {"m1": {"backorder_cancel": "3d"}}}
    assert Deadlines.for_order("web", ["m1"], per_merchant).backorder_cancel == timedelta(days=3)
    assert Deadlines.for_order("web", ["m2"], per_merchant).backorder_cancel == WEEK


# --- an approval ends a rule hold --------------------------------------------------------------

HOLD_BIG = {"version": "h1", "strategies": [
    {"name": "review-big", "when": {"min_order_value": "100"}, "action": "hold", "hold_reason": "big order"},
    {"name": "default", "fallback": "backorder"}]}


def test_an_approved_order_skips_rule_holds_and_is_still_subject_to_stock():
    rules = RoutingRules.from_dict(HOLD_BIG)
    big = order(line(1, "A", 20, price="10.00"))
    held = plan_fulfilments(big, stock(("A", "W1", 30)), network(wh("W1")), rules)
    assert held.held_reason == "big order" and not held.fulfilments
    approved = plan_fulfilments(big, stock(("A", "W1", 12)), network(wh("W1")), rules, approved=True)
    assert approved.held_reason is None and approved.explanation["approved"] is True
    assert [fl.quantity for f in approved.fulfilments for fl in f.lines] == [12]  # stock still applies
    assert approved.backordered == (FulfilmentLine(1, "A", 8),)
    assert approved.explanation["merchants"][0]["holds_skipped"] == ["review-big"]
    assert replay(approved.explanation).fulfilments == approved.fulfilments  # the approval is recorded


def test_an_approval_routes_with_the_hold_strategy_when_nothing_else_matches_but_a_stock_hold_holds():
    only_hold = RoutingRules.from_dict({"version": "h2", "strategies": [
        {"name": "review-all", "action": "hold", "hold_reason": "review"}]})
    routed = plan_fulfilments(order(line(1, "A", 2)), stock(("A", "W1", 5)), network(wh("W1")), only_hold,
                              approved=True)
    assert routed.held_reason is None and routed.fulfilments
    stock_hold = RoutingRules.from_dict({"version": "h3", "strategies": [
        {"name": "all-or-hold", "fallback": "hold", "hold_reason": "short"}]})
    assert plan_fulfilments(order(line(1, "A", 9)), stock(("A", "W1", 5)), network(wh("W1")), stock_hold,
                            approved=True).held_reason == "short"


def test_a_full_warehouse_is_skipped_by_the_capacity_filter():
    full, free = wh("W1", rank=1, daily_capacity=1, orders_today=1), wh("W2", rank=2, daily_capacity=1)
    decision = plan_fulfilments(order(line(1, "A", 1)), stock(("A", "W1", 5), ("A", "W2", 5)), network(full, free))
    assert [f.warehouse_id for f in decision.fulfilments] == ["W2"]
    removed = decision.explanation["merchants"][0]["attempts"][0]["removed"]
    assert {"warehouse_id": "W1", "removed_by": "capacity"} in removed


@SETTINGS
@given(routing_inputs(), st.booleans(), st.integers(1, 5))
def test_later_decisions_replay_the_same_with_their_options(inputs, approved, first):
    the_order, levels, net, exclude = inputs
    decision = plan_fulfilments(the_order, levels, net, RoutingRules.from_dict(HOLD_BIG),
                                exclude_warehouses=exclude, approved=approved, first_fulfilment=first)
    again = replay(decision.explanation)
    assert again.fulfilments == decision.fulfilments and again.backordered == decision.backordered
    assert again.held_reason == decision.held_reason
    assert all(int(f.fulfilment_id.rsplit("-F", 1)[1]) >= first for f in decision.fulfilments)
    if approved:
        assert decision.held_reason != "big order"


def test_recorded_options_are_checked():
    assert routing_record.read_options({}) == {}
    assert routing_record.read_options({"options": {"approved": True}}) == {"approved": True}
    for bad in ({"options": {"approved": "yes"}}, {"options": {"surprise": 1}}, {"options": []}):
        with pytest.raises(InvalidDecisionRecord):
            routing_record.read_options(bad)


# --- invariants ------------------------------------------------------------------------------------

def stored(status="awaiting_shipment", shipment="partially_shipped", fulfilled=5, waiting=3, cancelled=0,
           f_status="shipped") -> dict:
    return {"_id": "O1", "status": status, "shipment_status": shipment, "payment_status": "paid",
            "lines": [{"line_no": 1, "sku": "A", "quantity": 8}],
            "routing": {"state": "routed",
                        "backordered": [{"line_no": 1, "sku": "A", "quantity": waiting}] if waiting else [],
                        "backorder_cancelled": [{"line_no": 1, "sku": "A", "quantity": cancelled}] if cancelled else []},
            "fulfilments": [{"id": "O1-F1", "status": f_status, "warehouse_id": "W1",
                             "lines": [{"line_no": 1, "sku": "A", "quantity": fulfilled}]}]}


def test_every_ordered_unit_is_shipped_backordered_or_cancelled():
    assert invariants.check_units(stored()) == []
    assert invariants.check_units(stored(waiting=0, cancelled=3, shipment="shipped", status="shipped")) == []
    assert [v.kind for v in invariants.check_units(stored(waiting=2))] == ["units_unaccounted"]
    assert [v.kind for v in invariants.check_units(stored(status="completed", shipment="delivered"))] \
        == ["ended_with_backorder"]
    assert invariants.check_units(stored(status="cancelled", waiting=0)) == []  # all cancelled with the order
    assert invariants.check_states(stored()) == []
    assert [v.kind for v in invariants.check_states(stored(shipment="shipped"))] == ["shipment_status_mismatch"]


def test_capacity_counters_are_never_negative_and_count_what_they_name():
    ok = {"warehouse_id": "W1", "day": "2026-01-02", "count": 2, "fulfilments": {"O1-F1": True, "O2-F1": True}}
    assert invariants.check_capacity([ok]) == []
    assert [v.kind for v in invariants.check_capacity([{**ok, "count": -1}])] == ["capacity_negative"]
    assert [v.kind for v in invariants.check_capacity([{**ok, "count": 3}])] == ["capacity_mismatch"]


def test_tagged_holds_belong_to_their_later_fulfilment():
    assert invariants.parse_hold_key("O1~2~R1") == ("O1", 2)
    assert invariants.parse_hold_key("O1~2") == ("O1", 2)
    assert invariants.parse_hold_key("O1~x~") is None
    doc = {"_id": "O1", "routing": {"state": "routed"}, "fulfilments": [
        {"id": "O1-F1", "status": "reserved", "warehouse_id": "W1", "lines": [{"line_no": 1, "sku": "A", "quantity": 5}]},
        {"id": "O1-F2", "status": "reserved", "warehouse_id": "W1", "hold_tag": "R1",
         "lines": [{"line_no": 1, "sku": "A", "quantity": 3}]}]}
    row = {"sku": "A", "warehouse_id": "W1", "on_hand": 8, "reserved": 8, "available": 0,
           "holds": {"O1~1": 5, "O1~1~R1": 3}}
    assert invariants.check_holds([row], [doc]) == []
