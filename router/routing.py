"""Routing: split an order by merchant and warehouse, choose carriers, and say why.

``plan_fulfilments`` is the entry point; it is pure (no clock, no I/O, no randomness) and
deterministic: the same order, stock, network and rules give the same decision, explanation
included. ``replay`` re-runs a decision from the inputs recorded in its explanation.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal

from router import geo, routing_record
from router.freight import shipment_fee
from router.model import (
    Carrier,
    FulfilmentLine,
    Network,
    Order,
    OrderLine,
    PlannedFulfilment,
    RoutingDecision,
    StockLevel,
)
from router.money import quantize
from router.rules import DEFAULT_RULES, RoutingRules, Strategy
from router.sourcing import DEFAULT_WEIGHT_GRAMS, Context, Placement, part_freight, place

EXPLANATION_SCHEMA = 1
BACKORDER = "backorder"


def merchant_sub_orders(order: Order) -> dict[str, list[OrderLine]]:
    """Lines grouped by merchant, merchants in order of their first line (by line_no)."""
    groups: dict[str, list[OrderLine]] = {}
    for line in sorted(order.lines, key=lambda ln: ln.line_no):
        groups.setdefault(line.merchant_id, []).append(line)
    return groups


def fulfilment_id(order_id: str, n: int) -> str:
    """The id of an order's ``n``-th fulfilment: ``<order_id>-F<n>``."""
    return f"{order_id}-F{n}"


def order_of_fulfilment(fid: str) -> str | None:
    """The order id fulfilment id ``fid`` names (see :func:`fulfilment_id`), None when it is not one."""
    order_id, sep, n = fid.rpartition("-F")
    return order_id if sep and order_id and n.isdigit() else None


def plan_fulfilments(order: Order, stock: Mapping[tuple[str, str], StockLevel], network: Network,
                     rules: RoutingRules | None = None, *,
                     exclude_warehouses: frozenset[str] = frozenset(),
                     record_inputs: bool = True, approved: bool = False,
                     first_fulfilment: int = 1) -> RoutingDecision:
    """Decide which warehouse ships which units of ``order``, and by which carrier.

    ``stock`` is keyed by ``(sku, warehouse_id)``; a missing key means no stock.
    ``exclude_warehouses`` are never used (e.g. a warehouse that just refused the order).
    Returns a ``RoutingDecision``: every unit is in exactly one fulfilment or in
    ``backordered``, unless the order is held (``held_reason`` set, nothing planned). Fulfilment
    ids are ``<order_id>-F1``, ``-F2``... by merchant (first line first), then pick order
    (``-F<first_fulfilment>`` on: a later decision for units of an order with fulfilments).
    ``approved``: an operator released the order from a hold, so strategies whose action is
    ``hold`` do not hold it again (the next matching strategy routes it; if only holds match, the
    first of them routes with its own filters and scoring); every other rule, stock and capacity
    included, still applies, and a fallback ``hold`` for lack of stock still holds.
    Raises nothing for lack of stock or carriers; those are backorders, holds or
    ``carrier_id=None``, all explained in ``explanation``. With ``record_inputs`` the
    explanation also holds ``inputs`` (the relevant order, network, stock and rules as plain
    JSON data) so that ``replay(explanation)`` reaches the same decision.
    """
    rules = rules or DEFAULT_RULES
    destination = geo.destination_key(order.address)
    ctx = Context(address=order.address, destination=destination, stock=stock, network=network,
                  rules=rules, exclude=frozenset(exclude_warehouses))
    merchants_expl: list[dict] = []
    plans: list[tuple[str, list[OrderLine], Placement | None]] = []
    held_reason: str | None = None
    for merchant_id, lines in merchant_sub_orders(order).items():
        placement, expl, hold = _route_merchant(order, merchant_id, lines, ctx, approved)
        merchants_expl.append(expl)
        plans.append((merchant_id, lines, placement))
        if hold and held_reason is None:
            held_reason = hold
    fulfilments: list[PlannedFulfilment] = []
    backordered: list[FulfilmentLine] = []
    fulfil_expl: list[dict] = []
    if held_reason is None:
        for merchant_id, lines, placement in plans:
            sku_of = {ln.line_no: ln.sku for ln in lines}
            parts = placement.parts if placement else {}
            for wh, qty in parts.items():
                fid = fulfilment_id(order.order_id, len(fulfilments) + first_fulfilment)
                carrier_id, carrier_expl = choose_carrier(order, ctx, lines, qty)
                freight = quantize(part_freight(ctx, merchant_id, wh, lines, qty), order.currency)
                fulfilments.append(PlannedFulfilment(
                    fulfilment_id=fid, merchant_id=merchant_id, warehouse_id=wh, carrier_id=carrier_id,
                    lines=tuple(FulfilmentLine(n, sku_of[n], q) for n, q in sorted(qty.items()) if q),
                    freight=freight))
                fulfil_expl.append({"fulfilment_id": fid, "merchant_id": merchant_id, "warehouse_id": wh,
                                    "carrier_id": carrier_id, "carriers": carrier_expl,
                                    "freight": str(freight)})
            short = placement.shortfall if placement else {ln.line_no: ln.quantity for ln in lines}
            backordered.extend(FulfilmentLine(n, sku_of[n], q) for n, q in sorted(short.items()))
    explanation = {
        "schema": EXPLANATION_SCHEMA,
        "rules_version": rules.version,
        "order_id": order.order_id,
        "destination": destination,
        "excluded": sorted(exclude_warehouses),
        "merchants": merchants_expl,
        "fulfilments": fulfil_expl,
        "backordered": [{"line_no": b.line_no, "sku": b.sku, "quantity": b.quantity} for b in backordered],
        "held_reason": held_reason,
    }
    options = {**({"approved": True} if approved else {}),
               **({"first_fulfilment": first_fulfilment} if first_fulfilment != 1 else {})}
    explanation.update(options)
    if record_inputs:
        explanation["inputs"] = routing_record.record_inputs(order, stock, network, rules, ctx.exclude, options)
    return RoutingDecision(fulfilments=tuple(fulfilments), backordered=tuple(backordered),
                           held_reason=held_reason, explanation=explanation)


def replay(decision_record: Mapping) -> RoutingDecision:
    """Re-run a decision from its stored explanation (or a dict holding it as ``explanation``).

    Returns the decision the recorded inputs give today's code: the same as the stored one
    unless the code changed. Raises ``InvalidDecisionRecord`` when no usable ``inputs`` are
    recorded, ``InvalidRoutingRules`` when the recorded rules no longer validate.
    """
    record = decision_record
    if "inputs" not in record and isinstance(record.get("explanation"), Mapping):
        record = record["explanation"]
    order, stock, network, rules, exclude = routing_record.read_inputs(record.get("inputs"))
    options = routing_record.read_options(record.get("inputs"))
    return plan_fulfilments(order, stock, network, rules, exclude_warehouses=exclude, **options)


def _route_merchant(order: Order, merchant_id: str, lines: list[OrderLine], ctx: Context,
                    approved: bool = False) -> tuple[Placement | None, dict, str | None]:
    """Try matching strategies in order; returns (placement, explanation, hold reason)."""
    value = sum((ln.goods - ln.discount for ln in lines), Decimal("0"))
    expl: dict = {"merchant_id": merchant_id, "lines": [ln.line_no for ln in lines],
                  "value": str(value), "attempts": []}
    strategies = [s for s in ctx.rules.strategies if matches(s, order, merchant_id, value)]
    expl["matching_strategies"] = [s.name for s in strategies]
    if approved:
        strategies = _without_rule_holds(strategies, expl)
    if not strategies:
        reason = f"no routing strategy matches merchant {merchant_id}"
        expl.update(outcome="held", winner=None)
        return None, expl, reason
    placement: Placement | None = None
    for i, strategy in enumerate(strategies):
        if strategy.action == "hold":
            reason = strategy.hold_reason or f"strategy {strategy.name} holds for review"
            expl["attempts"].append({"strategy": strategy.name, "action": "hold"})
            expl.update(outcome="held", winner=None)
            return None, expl, reason
        placement = place(merchant_id, lines, strategy, ctx)
        expl["attempts"].append(placement.explanation)
        if not placement.shortfall:
            break
        if strategy.fallback == "next_strategy" and i + 1 < len(strategies):
            continue
        if strategy.fallback == "hold":
            reason = strategy.hold_reason or f"insufficient stock for merchant {merchant_id}"
            expl.update(outcome="held", fallback="hold", winner=None)
            return None, expl, reason
        expl["fallback"] = BACKORDER
        break
    assert placement is not None
    for key, q in placement.taken.items():
        ctx.consumed[key] = ctx.consumed.get(key, 0) + q
    expl["outcome"] = "backordered" if placement.shortfall else "routed"
    expl["winner"] = list(placement.parts)
    return placement, expl, None


def _without_rule_holds(strategies: list[Strategy], expl: dict) -> list[Strategy]:
    """An approved order's strategies: those that would hold it for review are skipped (noted in
    ``expl``); when nothing else matches, the first of them routes it with its own settings."""
    skipped = [s for s in strategies if s.action == "hold"]
    if not skipped:
        return strategies
    expl["holds_skipped"] = [s.name for s in skipped]
    return [s for s in strategies if s.action != "hold"] or [replace(skipped[0], action="route")]


def matches(strategy: Strategy, order: Order, merchant_id: str, value: Decimal) -> bool:
    """True when the strategy's conditions hold for this merchant's sub-order of ``order``."""
    w = strategy.when
    if w.channels and order.channel not in w.channels:
        return False
    if w.merchants and merchant_id not in w.merchants:
        return False
    if w.destinations and not geo.covers(w.destinations, geo.destination_key(order.address)):
        return False
    if w.min_order_value is not None and value < w.min_order_value:
        return False
    if w.max_order_value is not None and value > w.max_order_value:
        return False
    if w.customer_tiers and order.customer.tier not in w.customer_tiers:
        return False
    if w.shipping_methods and str(order.shipping_method) not in w.shipping_methods:
        return False
    return w.b2b is None or order.b2b == w.b2b


def choose_carrier(order: Order, ctx: Context, lines: list[OrderLine],
                   qty: Mapping[int, int]) -> tuple[str | None, list[dict]]:
    """The carrier for one shipment: serves the destination and the shipping method; then by
    ``rules.carrier_preference`` (rank, cost), then id. Returns (carrier id or None, candidates)."""
    eligible: list[tuple[tuple, Carrier, Decimal | None]] = []
    weight = pieces = 0
    for ln in lines:
        q = qty.get(ln.line_no, 0)
        sku = ctx.network.skus.get(ln.sku)
        weight += q * (sku.weight_grams if sku else DEFAULT_WEIGHT_GRAMS)
        pieces += q
    value = sum((ln.unit_price * qty.get(ln.line_no, 0) for ln in lines), Decimal("0"))
    for c in ctx.network.carriers:
        if not geo.covers(c.regions, ctx.destination) or order.shipping_method not in c.service_levels:
            continue
        rate = ctx.rules.freight.carrier_rates.get(c.id)
        cost = shipment_fee(rate, ctx.destination, weight, pieces, value) if rate else None
        key: list[object] = []
        for crit in ctx.rules.carrier_preference:
            if crit == "rank":
                key.append(c.rank)
            else:  # cost; an unknown cost sorts after every known one
                key.append((cost is None, cost or Decimal("0")))
        eligible.append(((*key, c.id), c, cost))
    eligible.sort(key=lambda e: e[0])
    expl = [{"carrier_id": c.id, "rank": c.rank, "cost": None if cost is None else str(cost)}
            for _, c, cost in eligible]
    return (eligible[0][1].id if eligible else None), expl
