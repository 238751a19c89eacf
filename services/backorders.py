"""Backorders that resolve: units routing could not place are tried again, and cancelled with
their money given back when they wait too long.

- :func:`retry`: on the backorder timer (every ``backorder_retry``, 15 minutes by default) and as
  soon as stock of a waiting SKU arrives (services/waiting.py), the waiting units are routed with
  the current rules, stock and warehouse capacity; what is placed becomes new fulfilments
  (numbered after the order's others, their stock holds tagged, see ``stock.hold_key``) carrying
  the units' share of the order's money, and the decision is recorded and replayable like the
  first (``routing.decisions``). The rest keeps waiting.
- :func:`cancel_expired`: units that waited longer than their merchant's ``backorder_cancel``
  (7 days by default; the ``timeouts`` setting per merchant) are cancelled; when the order was
  paid, the money they carried is owed back and its refund opened in the same update, as for
  any cancellation (services/refunds.py: a refund-only after-sales case, ``cause: cancellation``,
  sent where the money came from: the channel's refund API through the outbox, or the payment
  service). A cash-on-delivery or terms order is no longer asked for it. An order with nothing
  else left to ship is cancelled whole, as an operator would (services/commands.py).

While units wait the order is at most partially shipped and never completes (router/lifecycle.py).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import structlog

from config import get_settings
from documents import orders, reference, reservations, routing_inputs, stock
from documents.converters import (change_fields, new_fulfilment_document, order_from_document, order_state,
                                  stock_levels)
from documents.schedule import backorder_entries, backorder_wait
from router import backorders, lifecycle
from router.errors import IllegalTransition
from router.model import Order, PlannedFulfilment, RoutingDecision
from router.money import quantize
from router.order_state import Outcome
from router.routing import plan_fulfilments
from router.statuses import FulfilmentStatus, OrderStatus, PaymentMethod, RoutingState
from services import commands, placing, refunds
from services.follow_up import follow_up
from services.outbox import send_pending
from services.routing import current_rules, own_holds, send_dispatches

log = structlog.get_logger(__name__)
WAITED = "waited too long for stock"
REFUND_REASON = "backordered units cancelled: no stock in time"
WAITING = frozenset({OrderStatus.PENDING_PAYMENT.value, OrderStatus.AWAITING_SHIPMENT.value})
RETRYING = frozenset({RoutingState.ROUTED.value, RoutingState.BACKORDERED.value})


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _waiting(doc: dict | None) -> bool:
    """Whether the order has units waiting for stock that may still be placed."""
    if doc is None:
        return False
    return doc["status"] in WAITING and doc["routing"]["state"] in RETRYING and bool(doc["routing"].get("backordered"))


# --- retry -------------------------------------------------------------------------------------

def retry(order_id: str, now: datetime | None = None) -> bool:
    """Route the order's waiting units again with what is in stock now. True when some were
    placed (new fulfilments, dispatched when the order may ship); otherwise the try is noted
    (the next is due ``backorder_retry`` later). Safe to run twice or concurrently."""
    now = _now(now)
    doc = orders.load(order_id, working=True)
    if doc is None or not _waiting(doc):
        return False
    entries = backorder_entries(doc, now)
    tag = f"R{len(doc['routing'].get('decisions') or []) + 1}"
    first = len(doc["fulfilments"]) + 1
    order = _waiting_part(order_from_document(doc), entries)
    rows = stock.snapshot(sorted({e.sku for e in entries}), [stock.hold_key(order_id, e.line_no, tag) for e in entries])
    mine = reservations.existing_holds(rows, order_id)  # a try that died before saving: reused or released
    network = placing.with_capacity(reference.load_network(), now, {line.merchant_id for line in order.lines})
    decision = plan_fulfilments(order, stock_levels(rows, own_holds(mine)), network, current_rules(),
                                exclude_warehouses=frozenset(doc.get("excluded_warehouses") or ()),
                                approved=True, first_fulfilment=first)  # it was released for routing already
    placed = placing.place(order_id, decision.fulfilments, mine, network, now, tag) \
        if decision.fulfilments and not decision.held_reason else None
    if placed is None:
        reservations.release_all(mine)
        _note_try(order_id, doc["routing"].get("backordered"), now)
        return False
    return _save_placed(order_id, doc, decision, placed, tag, now)


def _waiting_part(order: Order, entries: tuple[backorders.Backorder, ...]) -> Order:
    """The order as routing sees its waiting units: each line with its backordered quantity (and
    its share of the line's discount, for strategies matching on value)."""
    waiting = {e.line_no: e.quantity for e in backorders.merge(entries)}
    return replace(order, lines=tuple(
        replace(line, quantity=waiting[line.line_no],
                discount=quantize(line.discount * waiting[line.line_no] / line.quantity, order.currency))
        for line in order.lines if line.line_no in waiting))


def _note_try(order_id: str, backordered: list | None, now: datetime) -> None:
    """Nothing placed: note the try, so the next one is due ``backorder_retry`` from now."""
    def decide(doc):
        if not _waiting(doc) or doc["routing"].get("backordered") != backordered:
            return None  # placed or cancelled meanwhile
        return {"routing": {**doc["routing"], "retried_at": now}}, [], None

    orders.update_with(order_id, decide)


def _save_placed(order_id: str, read: dict, decision: RoutingDecision, placed: placing.Placed, tag: str,
                 now: datetime) -> bool:
    explanation = routing_inputs.detach(order_id, decision.explanation, now, get_settings().routing_inputs_days)
    new_ids = [f.fulfilment_id for f in decision.fulfilments]

    def decide(doc):
        if not _waiting(doc) or doc["routing"].get("backordered") != read["routing"].get("backordered") \
                or len(doc["fulfilments"]) != len(read["fulfilments"]):
            return None  # another try, a cancel or a re-route got there first
        money, left = backorders.take(backorder_entries(doc, now), _placed_units(decision.fulfilments),
                                      doc["currency"])
        state = replace(order_state(doc), backordered_units=backorders.units(left))
        change = lifecycle.on_routed(state, RoutingState.ROUTED, now,
                                     fulfilments={fid: FulfilmentStatus.RESERVED for fid in new_ids})
        fields = change_fields(doc, change)
        cod = doc.get("payment_method") == PaymentMethod.CASH_ON_DELIVERY.value
        fields["fulfilments"] = list(doc["fulfilments"]) + [
            new_fulfilment_document(f, money[f.fulfilment_id], money[f.fulfilment_id].payable if cod else None, tag) for f in decision.fulfilments]
        fields["warehouse_ids"] = sorted({f["warehouse_id"] for f in fields["fulfilments"]})
        fields["routing"] = {**doc["routing"], "state": RoutingState.ROUTED.value, "reason": None,
                             "backordered": [e.to_dict() for e in left], "retried_at": now,
                             "decisions": list(doc["routing"].get("decisions") or []) + [
                                 {"kind": "backorder_retry", "at": now, "decision": explanation,
                                  "fulfilments": new_ids}]}
        entry = {"at": now, "actor": "system", "event": "routing.backorder_retry", "from": doc["status"],
                 "to": fields.get("status", doc["status"]),
                 "details": {"fulfilments": new_ids, "placed": backorders.units(backorder_entries(doc, now))
                             - backorders.units(left), "still_backordered": backorders.units(left)}}
        return fields, list(change.timeline) + [entry], change.outcomes

    saved, outcomes = orders.update_with(order_id, decide)
    if saved is None or not any(f["id"] in new_ids and f.get("hold_tag") == tag
                                for f in saved.get("fulfilments", [])):  # not saved by this try
        # keep what the order holds, drop the rest
        placing.undo(placed, reservations.holds_of_order(saved or {"_id": order_id}),
                     [(f["warehouse_id"], f["id"]) for f in (saved or {}).get("fulfilments", [])], now)
        return False
    follow_up(saved, [o for o in outcomes or () if o is not Outcome.READY_FOR_DISPATCH])
    send_dispatches(saved)  # the new fulfilments, when the order may ship
    log.info("backorder_placed", order_id=order_id, fulfilments=new_ids)
    return True


def _placed_units(fulfilments: tuple[PlannedFulfilment, ...]) -> dict[str, dict[int, int]]:
    return {f.fulfilment_id: {line.line_no: line.quantity for line in f.lines} for f in fulfilments}


# --- cancel after the wait ------------------------------------------------------------------------

def cancel_expired(order_id: str, now: datetime | None = None) -> bool:
    """Cancel the order's backordered units that waited past their merchant's deadline at
    ``now``; a paid order owes their money back, opened as its refund in the same update (see the
    module docstring). True when something was cancelled. Safe to run twice."""
    now = _now(now)
    doc = orders.load(order_id, working=True)
    if doc is None or not _waiting(doc):
        return False
    expired, waiting = backorders.expired(backorder_entries(doc, now), now, backorder_wait(doc))
    if not expired:
        return False
    if not waiting and not order_state(doc).live_fulfilments():
        _cancel_whole(order_id)  # nothing of the order is left to ship
        return True
    return _cancel_units(order_id, now)


def _cancel_whole(order_id: str) -> None:
    try:
        commands.cancel(order_id, "system")
    except IllegalTransition as exc:  # moved on meanwhile (paid, shipped, cancelled): nothing to do
        log.info("backorder_cancel_skipped", order_id=order_id, reason=str(exc))


def _cancel_units(order_id: str, now: datetime) -> bool:
    cause = f"backorder:{now.isoformat()}"

    def decide(doc):
        if not _waiting(doc):
            return None
        expired, waiting = backorders.expired(backorder_entries(doc, now), now, backorder_wait(doc))
        if not expired:
            return None
        change = lifecycle.on_backorder_cancelled(order_state(doc), backorders.units(waiting), now, details={
            "lines": [[e.line_no, e.quantity] for e in expired]})
        fields = change_fields(doc, change)
        cancelled = [{**e.to_dict(), "cancelled_at": now, "reason": WAITED} for e in expired]
        earlier = list(doc["routing"].get("backorder_cancelled") or [])
        fields["routing"] = {**doc["routing"], "backordered": [e.to_dict() for e in waiting],
                             "backorder_cancelled": earlier + cancelled}
        # what a paid order no longer charges for goes back as every cancellation's does (services/refunds.py)
        refund, entries = refunds.owed_refund_fields({**doc, **fields}, now, "system", cause, reason=REFUND_REASON)
        if refund:
            case_id = refund["after_sales"][-1]["case_id"]
            fields["routing"]["backorder_cancelled"] = earlier + [{**c, "refund_case": case_id} for c in cancelled]
        return {**fields, **refund}, list(change.timeline) + entries, change.outcomes

    saved, outcomes = orders.update_with(order_id, decide)
    if outcomes is None:
        return False
    send_pending(saved, cause=cause)
    follow_up(saved, outcomes)
    log.info("backorder_cancelled", order_id=order_id)
    return True
