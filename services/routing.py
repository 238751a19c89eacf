"""Route an accepted order: validate, risk-check, plan fulfilments, reserve stock, price it.

Safe to run twice: a replay of an already routed order only dispatches what is still reserved
(the first run dispatches the order's fulfilments itself once it may ship), and holds already
placed by an earlier, interrupted run are reused (see documents/reservations.py).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import structlog

from config import get_settings
from documents import orders, reference, reservations, risk, routing_inputs, stock
from documents.schedule import schedule_fields
from documents.converters import (change_fields, new_fulfilment_document, order_from_document, order_state,
                                  stock_levels)
from router import backorders, lifecycle
from router.model import RoutingDecision
from router.money import BACKORDERED, Amounts, cod_shares, price_order
from router.routing import plan_fulfilments, replay
from router.rules import RoutingRules
from router.statuses import FulfilmentStatus, OrderStatus, PaymentMethod, RoutingState
from router.validation import amount_problems, assess_risk, validate_order
from services import placing, refunds
from services.dispatch import dispatch_reserved
from services.outbox import send_pending

log = structlog.get_logger(__name__)


class OrderNotFound(LookupError):
    pass


class NoRecordedInputs(LookupError):
    """The order's decision has no recorded inputs (not routed yet, rejected or held before
    routing, or its record was removed)."""
RESERVE_ATTEMPTS = 3
REFUND_CAUSE = "routing"  # the cause of a rejected order's refund notice
FINAL = {OrderStatus.CANCELLED.value, OrderStatus.CLOSED.value, OrderStatus.REJECTED.value}


def process_order(order_id: str) -> None:
    doc = orders.load(order_id, working=True)
    if doc is None:
        log.warning("order_missing", order_id=order_id)
        return
    if doc["status"] in FINAL:  # cancelled or closed before routing got to it
        return
    if doc["routing"]["state"] == RoutingState.RECEIVED:
        doc = route(doc, datetime.now(timezone.utc))
    send_dispatches(doc)


def route(doc: dict, now: datetime) -> dict:
    """Decide and reserve for a received order, and store the outcome with one guarded update."""
    order = order_from_document(doc)
    network = reference.load_network()
    problems = validate_order(order, network)
    approved = bool(doc["routing"].get("approved_by"))  # an operator released it: rule holds do not fire again
    # reviewed, or our own replacement (an exchange, a reship)
    trusted = approved or doc.get("exchange_for") or doc.get("reship_for")
    risks = [] if problems or trusted else _assess_risk(doc, order, network)
    check_amounts = not (problems or risks or trusted) and order.stated_total is not None
    if check_amounts and order.shipping_fee is not None:  # the payable does not depend on the plan
        risks, check_amounts = _amount_problems(order, RoutingDecision(fulfilments=())), False
    decision, holds = (RoutingDecision(fulfilments=()), []) if problems or risks else _plan_and_reserve(
        order, network, frozenset(doc.get("excluded_warehouses") or ()),  # a reship: not from where it failed
        now=now, approved=approved)
    planned = _counted(decision.fulfilments)  # capacity taken for them: given back unless they are saved
    if check_amounts:  # freight from templates: the plan prices it, so check after planning
        risks = _amount_problems(order, decision)
        if risks:
            reservations.release_all(holds)
            decision, holds = RoutingDecision(fulfilments=(), explanation=decision.explanation), []
    explanation, inputs = routing_inputs.detached(doc["_id"], decision.explanation, now,
                                                  get_settings().routing_inputs_days)
    decision = replace(decision, explanation=explanation)
    fields, timeline = routed_fields(doc, order, decision, problems, risks, now)
    fields.update(schedule_fields(doc, fields, now))
    saved = orders.save_change(doc["_id"], doc["version"], fields, timeline, current=doc, first=inputs)
    if saved is None:  # a concurrent run of this message won: keep its holds, drop ours
        winner = orders.load(doc["_id"], working=True)
        assert winner is not None, "it saved this order"
        reservations.apply(reservations.holds_of_order(winner, frozenset({FulfilmentStatus.RESERVED.value})), holds)
        saved = winner
    placing.give_back(planned - _counted(saved.get("fulfilments", [])), now)
    send_pending(saved, cause=REFUND_CAUSE)
    return saved


def _assess_risk(doc: dict, order, network) -> list:
    """The risk rules in force (documents/risk.py) and this order's velocity counts, given to the
    pure rules (router/validation.assess_risk)."""
    rules = risk.load_rules()
    return assess_risk(order, network, rules=rules, velocity=risk.velocity_counts(doc, rules))


def _counted(fulfilments) -> set[tuple[str, str]]:
    """(warehouse, fulfilment) pairs of planned or stored fulfilments, as capacity counts them."""
    return {(f.warehouse_id, f.fulfilment_id) if hasattr(f, "fulfilment_id") else (f["warehouse_id"], f["id"])
            for f in fulfilments}


def _amount_problems(order, decision: RoutingDecision) -> list:
    return amount_problems(order, price_order(order, decision).order.payable)


def _reason(problem) -> str:
    """A problem as the routing reason: the amount mismatch by its code (it names both figures)."""
    return f"{problem.code}: {problem.message}" if problem.code == "amount_mismatch" else \
        f"{problem.field}: {problem.message}"


def _plan_and_reserve(order, network, excluded: frozenset[str] = frozenset(), *, now: datetime,
                      approved: bool = False) -> tuple[RoutingDecision, list]:
    """Plan with current stock, rules and today's warehouse capacity (``approved``: rule holds
    skipped), then hold the stock and count the capacity; planned again (up to
    ``RESERVE_ATTEMPTS``) when either ran out meanwhile. Returns the decision and its holds."""
    rules = _rules()
    keys = [stock.hold_key(order.order_id, line.line_no) for line in order.lines]
    skus = sorted({line.sku for line in order.lines})
    merchants = {line.merchant_id for line in order.lines}
    decision = RoutingDecision(fulfilments=())
    for attempt in range(RESERVE_ATTEMPTS):
        rows = stock.snapshot(skus, keys)
        mine = reservations.existing_holds(rows, order.order_id)
        today = placing.with_capacity(network, now, merchants)
        decision = plan_fulfilments(order, stock_levels(rows, own_holds(mine)), today, rules,
                                    exclude_warehouses=excluded, approved=approved)
        placed = placing.place(order.order_id, decision.fulfilments, mine, today, now)
        if placed is not None:
            return decision, placed.holds
        log.info("reservation_conflict", attempt=attempt)
    # Stock kept moving under us: hold for a human rather than spin.
    return RoutingDecision(fulfilments=(), held_reason="stock_contention",
                           explanation=decision.explanation), []


def own_holds(mine) -> dict[tuple[str, str], int]:
    """Units this order already holds per (sku, warehouse): available to its own re-planning."""
    own: dict[tuple[str, str], int] = {}
    for h in mine:
        own[(h.sku, h.warehouse_id)] = own.get((h.sku, h.warehouse_id), 0) + h.quantity
    return own


def routed_fields(doc: dict, order, decision: RoutingDecision, problems, risks, now: datetime):
    """The order's fields and timeline after routing (pure given its inputs)."""
    if problems:
        kind, reason = RoutingState.REJECTED, "; ".join(f"{p.field}: {p.message}" for p in problems)
    elif risks:
        kind, reason = RoutingState.HELD, "; ".join(_reason(p) for p in risks)
    elif decision.held_reason:
        kind, reason = RoutingState.HELD, decision.held_reason
    elif not decision.fulfilments:
        kind, reason = RoutingState.BACKORDERED, "no stock for any line"
    else:
        kind, reason = RoutingState.ROUTED, None
    pricing = price_order(order, decision)
    collect = cod_shares(pricing) if order.payment_method is PaymentMethod.CASH_ON_DELIVERY else {}
    change = lifecycle.on_routed(order_state(doc), kind, now,
                                 fulfilments={f.fulfilment_id: FulfilmentStatus.RESERVED for f in decision.fulfilments})
    fields = {
        **change_fields(doc, change),
        "routing": {**_kept(doc["routing"]), "state": kind.value, "reason": reason,
                    "decision": decision.explanation,
                    "problems": [p.__dict__ for p in problems + risks],
                    "backordered": [e.to_dict() for e in _backorder(order, decision, pricing, now)],
                    "routed_at": now},
        "fulfilments": [new_fulfilment_document(f, pricing.fulfilments[f.fulfilment_id], collect.get(f.fulfilment_id))
                        for f in decision.fulfilments],
        "warehouse_ids": sorted({f.warehouse_id for f in decision.fulfilments}),
        "amounts": {**pricing.order.to_dict(), "currency": order.currency, "tax_included": pricing.tax_included},
        "payable": pricing.order.payable,
        "sub_orders": {m: a.to_dict() for m, a in pricing.merchants.items()},
        "line_amounts": {str(n): a.to_dict() for n, a in pricing.lines.items()},
    }
    # a paid order rejected: its money goes back (services/refunds.py), opened by the same update
    return refunds.with_owed_refund(doc, fields, change.timeline, change.outcomes, now, REFUND_CAUSE)


def _kept(routing: dict) -> dict:
    """What a new routing keeps of the order's earlier routing: who approved its hold."""
    return {"approved_by": routing["approved_by"]} if routing.get("approved_by") else {}


def _backorder(order, decision: RoutingDecision, pricing, now: datetime) -> tuple[backorders.Backorder, ...]:
    """The units the decision backordered, carrying the order's money its fulfilments do not."""
    if not decision.backordered:
        return ()
    return backorders.from_decision(decision.backordered, pricing.fulfilments.get(BACKORDERED, Amounts()),
                                    {line.line_no: line.unit_price for line in order.lines}, order.currency, now)



_rules_cache: dict = {}


def _rules() -> RoutingRules | None:
    raw = reference.cached_setting("routing_rules")
    if raw is None:
        return None
    version = raw.get("version")
    if _rules_cache.get("version") != version:
        _rules_cache.update(version=version, rules=RoutingRules.from_dict(raw))
    return _rules_cache["rules"]


def current_rules() -> RoutingRules | None:
    """The routing rules in force (None: the built-in ones), as every routing decision uses them."""
    return _rules()


def send_dispatches(doc: dict) -> None:
    """Dispatch every reserved fulfilment once the order may go to the warehouse: here and now,
    with ``doc`` (the order as just saved or read) to decide on; one whose dispatch must be retried
    goes as a ``DispatchFulfilment`` message (services.dispatch.dispatch_reserved)."""
    dispatch_reserved(doc)


def planned_view(decision: RoutingDecision) -> dict:
    """A decision's placements as plain data: fulfilments (warehouse, carrier, freight, lines),
    backordered lines and hold reason."""
    return {"fulfilments": [{"fulfilment_id": f.fulfilment_id, "merchant_id": f.merchant_id,
                             "warehouse_id": f.warehouse_id, "carrier_id": f.carrier_id, "freight": str(f.freight),
                             "lines": [l.__dict__ for l in f.lines]} for f in decision.fulfilments],
            "backordered": [b.__dict__ for b in decision.backordered], "held_reason": decision.held_reason}


def simulate(order) -> dict:
    """Route ``order`` against current stock and rules without reserving or storing anything."""
    network = reference.load_network()
    problems = validate_order(order, network)
    rules = risk.load_rules()
    risks = [] if problems else assess_risk(order, network, rules=rules)  # a simulation has no arrival to count from
    rows = stock.snapshot(sorted({line.sku for line in order.lines}))
    decision = plan_fulfilments(order, stock_levels(rows), network, _rules())
    pricing = price_order(order, decision)
    return {
        "problems": [p.__dict__ for p in problems], "risks": [p.__dict__ for p in risks],
        **planned_view(decision),
        "fulfilments": [{**placement, "amounts": pricing.fulfilments[placement["fulfilment_id"]].to_dict()}
                        for placement in planned_view(decision)["fulfilments"]],
        "amounts": {**pricing.order.to_dict(), "currency": order.currency, "tax_included": pricing.tax_included},
        "sub_orders": {m: a.to_dict() for m, a in pricing.merchants.items()},
        "decision": decision.explanation,
    }


def replay_decision(order_id: str) -> dict:
    """Re-run an order's routing decision from its recorded inputs with today's code: ``same``
    says whether it places the same units in the same warehouses with the same carriers (a
    changed rule set or network does not count: the recorded ones are used). ``later`` replays,
    the same way, each decision made after the first (a backorder retry that placed units, a
    re-route), in order. Raises OrderNotFound, NoRecordedInputs, and InvalidDecisionRecord /
    InvalidRoutingRules when the record cannot be replayed."""
    doc = orders.load_routing(order_id)
    if doc is None:
        raise OrderNotFound(order_id)
    routing = doc.get("routing") or {}
    lines_of = {f["id"]: [{k: line.get(k) for k in ("line_no", "sku", "quantity")} for line in f.get("lines", [])]
                for f in doc.get("fulfilments", [])}
    first = _replayed(routing.get("decision") or {}, lines_of)
    if first is None:
        raise NoRecordedInputs(order_id)
    later = []
    for d in routing.get("decisions") or []:
        at = d.get("at")
        later.append({"kind": d.get("kind"), "at": at.isoformat() if hasattr(at, "isoformat") else at,
                      "fulfilments": d.get("fulfilments", []), "failed": d.get("failed"),
                      **(_replayed(d.get("decision") or {}, lines_of) or {"same": None, "unreplayable":
                                                                            "no recorded inputs"})})
    return {"order_id": order_id, **first, "later": later}


def _replayed(decision: dict, lines_of: dict[str, list]) -> dict | None:
    """One stored decision against its replay (None when it has no recorded inputs)."""
    inputs = routing_inputs.inputs_of(decision)
    if inputs is None:
        return None
    replayed = planned_view(replay({"inputs": inputs}))
    placement = ("fulfilment_id", "merchant_id", "warehouse_id", "carrier_id", "freight")
    stored = {"fulfilments": [{**{k: f.get(k) for k in placement}, "lines": lines_of.get(f.get("fulfilment_id"), [])}
                              for f in decision.get("fulfilments", [])],
              "backordered": decision.get("backordered", []), "held_reason": decision.get("held_reason")}
    return {"rules_version": decision.get("rules_version"), "same": stored == replayed, "stored": stored,
            "replayed": replayed}
