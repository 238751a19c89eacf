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
  paid, their money is refunded through its after-sales path (a refund-only case for those
  lines, approved and refunded by ``system``: the channel or payment service hears of it as of
  any refund). An order with nothing else left to ship is cancelled whole, as an operator would.

While units wait the order is at most partially shipped and never completes (router/lifecycle.py).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import structlog

from config import get_settings
from documents import orders, reference, reservations, routing_inputs, stock
from documents.converters import change_fields, order_from_document, order_state, stock_levels
from documents.schedule import backorder_entries, backorder_wait
from router import backorders, lifecycle
from router.errors import IllegalTransition, RefundExceedsPaid
from router.model import Order, PlannedFulfilment, RoutingDecision
from router.money import Amounts, quantize
from router.order_state import AfterSalesType, Outcome
from router.after_sales import CaseCommand
from router.routing import plan_fulfilments
from router.statuses import AfterSalesStatus, FulfilmentStatus, OrderStatus, PaymentMethod, RoutingState
from services import after_sales, commands, placing
from services.follow_up import follow_up
from services.routing import current_rules, own_holds, send_dispatches

log = structlog.get_logger(__name__)
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
            _fulfilment(f, money[f.fulfilment_id], tag, cod) for f in decision.fulfilments]
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


def _fulfilment(f: PlannedFulfilment, amounts: Amounts, tag: str, cod: bool) -> dict:
    out = {"id": f.fulfilment_id, "merchant_id": f.merchant_id, "warehouse_id": f.warehouse_id,
           "carrier_id": f.carrier_id, "status": FulfilmentStatus.RESERVED.value,
           "lines": [{"line_no": line.line_no, "sku": line.sku, "quantity": line.quantity} for line in f.lines],
           "amounts": amounts.to_dict(), "freight": str(f.freight), "hold_tag": tag,
           "tracking_number": None, "wms_order_id": None, "tracking": []}
    if cod:  # the courier collects what the units carry
        out["cod_amount"] = str(amounts.payable)
    return out


# --- cancel after the wait ------------------------------------------------------------------------

def cancel_expired(order_id: str, now: datetime | None = None) -> bool:
    """Cancel the order's backordered units that waited past their merchant's deadline at
    ``now`` and refund their money when it was paid (see the module docstring). True when
    something was cancelled or refunded. Safe to run twice."""
    now = _now(now)
    doc = orders.load(order_id, working=True)
    if doc is None:
        return False
    done = False
    if _waiting(doc):
        expired, waiting = backorders.expired(backorder_entries(doc, now), now, backorder_wait(doc))
        if expired and not waiting and not order_state(doc).live_fulfilments():
            _cancel_whole(order_id)  # nothing of the order is left to ship
            return True
        done = bool(expired) and _cancel_units(order_id, now)
    return _refund_cancelled(order_id, now) or done


def _cancel_whole(order_id: str) -> None:
    try:
        commands.cancel(order_id, "system")
    except IllegalTransition as exc:  # moved on meanwhile (paid, shipped, cancelled): nothing to do
        log.info("backorder_cancel_skipped", order_id=order_id, reason=str(exc))


def _cancel_units(order_id: str, now: datetime) -> bool:
    def decide(doc):
        if not _waiting(doc):
            return None
        expired, waiting = backorders.expired(backorder_entries(doc, now), now, backorder_wait(doc))
        if not expired:
            return None
        state = order_state(doc)
        change = lifecycle.on_backorder_cancelled(state, backorders.units(waiting), now, details={
            "lines": [[e.line_no, e.quantity] for e in expired]})
        paid = state.paid_amount > state.refunded_amount
        cancelled = [{**e.to_dict(), "cancelled_at": now, "reason": "waited too long for stock",
                      "refund_pending": paid and e.amounts.payable > 0} for e in expired]
        fields = change_fields(doc, change)
        fields["routing"] = {**doc["routing"], "backordered": [e.to_dict() for e in waiting],
                             "backorder_cancelled": list(doc["routing"].get("backorder_cancelled") or []) + cancelled}
        return fields, list(change.timeline), change.outcomes

    saved, outcomes = orders.update_with(order_id, decide)
    follow_up(saved, outcomes)
    return outcomes is not None


def _refund_cancelled(order_id: str, now: datetime) -> bool:
    """Give back the money of cancelled backordered units not refunded yet: one refund-only case
    per cancellation, found again by its reason if a crash struck after it was opened."""
    doc = orders.load(order_id, working=True)
    pending = [c for c in (doc or {}).get("routing", {}).get("backorder_cancelled") or [] if c.get("refund_pending")]
    if doc is None or not pending:
        return False
    at = min(c["cancelled_at"] for c in pending)
    batch = [c for c in pending if c["cancelled_at"] == at]
    reason = f"backordered units cancelled at {at.isoformat()}: no stock in time"
    amount = sum((backorders.amounts_from(c.get("amounts")).payable for c in batch), Decimal(0))
    lines = tuple((c["line_no"], c["quantity"]) for c in batch)
    case_id = _refund(doc, amount, lines, reason)
    _mark_refunded(order_id, at, case_id)
    return True


def _refund(doc: dict, amount: Decimal, lines: tuple, reason: str) -> str | None:
    """Open (or find), approve and refund a refund-only case for ``amount``; its id, or None when
    nothing can be refunded (not paid any more, or already refunded whole)."""
    case = next((c for c in doc.get("after_sales", []) if c.get("reason") == reason), None)
    try:
        if case is None:
            case = after_sales.open_case(doc["_id"], AfterSalesType.REFUND_ONLY, "system", amount, lines, reason)
        if case["status"] == AfterSalesStatus.PENDING_REVIEW:
            case = after_sales.step(case["case_id"], CaseCommand.APPROVE, "system")
        if case["status"] == AfterSalesStatus.AWAITING_REFUND:
            case = after_sales.refund(case["case_id"], "system")
    except (IllegalTransition, RefundExceedsPaid, ValueError) as exc:
        log.warning("backorder_refund_refused", order_id=doc["_id"], amount=str(amount), reason=str(exc))
        return case["case_id"] if case else None
    return case["case_id"]


def _mark_refunded(order_id: str, at: datetime, case_id: str | None) -> None:
    def decide(doc):
        cancelled = doc["routing"].get("backorder_cancelled") or []
        if not any(c.get("refund_pending") and c["cancelled_at"] == at for c in cancelled):
            return None
        marked = [{**c, "refund_pending": False, "refund_case": case_id}
                  if c.get("refund_pending") and c["cancelled_at"] == at else c for c in cancelled]
        return {"routing": {**doc["routing"], "backorder_cancelled": marked}}, [], None

    orders.update_with(order_id, decide)
