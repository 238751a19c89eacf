"""Customer and operator commands on an order, applied synchronously for the API and console.

Each is load -> decide (router/lifecycle.py) -> one guarded update -> follow-ups. A command the
current state forbids raises ``IllegalTransition`` (the API answers 409 with what is allowed).
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import structlog

from documents import orders
from documents.converters import change_fields, order_from_document, order_state
from router import lifecycle
from router.errors import IllegalTransition
from router.exceptions import resolved, timeline_entries
from router.model import Order, OrderLine
from router.statuses import FulfilmentStatus, PaymentMethod, RoutingState, ShippingMethod
from services import intake, refunds
from services.channel_sync import outbox_entry, send_pending
from services.follow_up import follow_up
from services.messages import DispatchFulfilment, send

log = structlog.get_logger(__name__)
RESHIP_CHANNEL = "reship"  # replacement orders of parcels lost or returned (channel order id: the fulfilment)


class OrderNotFound(LookupError):
    pass


def _run(order_id: str, decide_change, extra_fields=None) -> dict:
    """Decide, save, follow up; money the change leaves owed (a paid order cancelled or rejected)
    is refunded by the same update (services/refunds.py), and its notice relayed."""
    now = datetime.now(timezone.utc)
    cause = f"refund:{now.isoformat()}"

    def decide(doc):
        change = decide_change(order_state(doc), now)
        fields = change_fields(doc, change, now=now)
        if extra_fields:
            fields.update(extra_fields(doc))
        fields, timeline = refunds.with_owed_refund(doc, fields, change.timeline, change.outcomes, now, cause)
        return fields, timeline, change.outcomes

    doc, outcomes = orders.update_with(order_id, decide)
    if doc is None:
        raise OrderNotFound(order_id)
    send_pending(doc, cause=cause)
    follow_up(doc, outcomes)
    return doc


def cancel(order_id: str, actor: str) -> dict:
    """Cancel; the channel hears of it unless it is where the cancel came from. Who cancelled is
    kept (``cancelled_by``): the refund a channel's own cancel leaves owed is the channel's to make
    and report, even when the cancel completes later (services/refunds.py)."""
    doc = _run(order_id, lambda state, now: lifecycle.cancel(state, actor, now),
               lambda doc: {"outbox": outbox_entry(doc, "cancelled", doc["_id"], origin=actor, cause="cancel"),
                            "cancelled_by": actor})
    send_pending(doc, cause="cancel")
    return doc


def change_address(order_id: str, actor: str, address: dict) -> dict:
    return _run(order_id, lambda state, now: lifecycle.change_address(state, actor, now, address),
                lambda doc: {"address": address})


def confirm_receipt(order_id: str, actor: str) -> dict:
    return _run(order_id, lambda state, now: lifecycle.confirm_receipt(state, actor, now))


def approve_hold(order_id: str, actor: str) -> dict:
    """Approve a held order: it is routed again, skipping the risk rules that held it."""
    return _run(order_id, lambda state, now: lifecycle.approve_hold(state, actor, now),
                lambda doc: {"routing": {**doc["routing"], "state": RoutingState.RECEIVED.value, "approved_by": actor}})


def reject_hold(order_id: str, actor: str, reason: str = "") -> dict:
    return _run(order_id, lambda state, now: lifecycle.reject_hold(state, actor, now, reason))


def retry_dispatch(fulfilment_id: str, actor: str) -> dict:
    """Send a ``dispatch_failed`` fulfilment to its warehouse again (idempotent at the WMS)."""
    summary = orders.load_summary_by_fulfilment(fulfilment_id)
    if summary is None:
        raise OrderNotFound(fulfilment_id)
    doc = orders.load(summary["order_id"], working=True)
    assert doc is not None, "its summary was just found"
    f = next(f for f in doc["fulfilments"] if f["id"] == fulfilment_id)
    if f["status"] != FulfilmentStatus.DISPATCH_FAILED:
        raise IllegalTransition("fulfilment", f["status"], "retry_dispatch", ())
    send(DispatchFulfilment(doc["_id"], fulfilment_id, retry=True))
    return doc


def resolve_exceptions(order_id: str, actor: str, fulfilment_id: str | None = None) -> dict:
    """Mark the order's open exception flags (only those about ``fulfilment_id`` when given)
    resolved: it leaves the exceptions page and ``?flag=exception``. Refused (409) when none is open."""
    def decide(state, now):
        if fulfilment_id is not None and fulfilment_id not in state.flagged:
            raise IllegalTransition("order", state.status, "resolve_exception",
                                    lifecycle.allowed_commands(state))
        return lifecycle.resolve_exceptions(state, actor, now, details={"fulfilment_id": fulfilment_id})

    def flags(doc):
        now = datetime.now(timezone.utc)
        after = resolved(doc.get("exceptions"), actor, now, fulfilment_id=fulfilment_id)
        return {"exceptions": after}, timeline_entries(doc.get("exceptions"), after, now, actor, doc["status"])

    return _run_with(order_id, decide, flags)


def reship(order_id: str, fulfilment_id: str, actor: str) -> dict:
    """Send again the goods of a parcel in a carrier exception (returned to sender, lost): a
    replacement order (channel ``reship``, nothing to pay, the channel order id is the parcel's
    fulfilment) routed like any other but never from the warehouse that shipped the parcel; the
    parcel's flags are resolved as ``reshipped`` with the replacement's id. Asking again for the
    same parcel finds the same replacement. Refused (409) unless the parcel is in exception with
    its flag open (so not twice)."""
    doc = orders.load(order_id, working=True)
    if doc is None:
        raise OrderNotFound(order_id)
    now = datetime.now(timezone.utc)
    lifecycle.reship(order_state(doc), fulfilment_id, actor, now)  # refuses before anything is created
    f = next(f for f in doc["fulfilments"] if f["id"] == fulfilment_id)
    replacement = _replacement(doc, f, now)

    def decide(state, now):
        return lifecycle.reship(state, fulfilment_id, actor, now)

    def flags(current):
        after = resolved(current.get("exceptions"), actor, now, "reshipped", fulfilment_id=fulfilment_id,
                         reshipped_to=replacement)
        entries = timeline_entries(current.get("exceptions"), after, now, actor, current["status"])
        return {"exceptions": after}, [{**e, "details": {**e["details"], "reshipped_to": replacement}} for e in entries]

    return _run_with(order_id, decide, flags)


def _replacement(doc: dict, f: dict, now: datetime) -> str:
    """Store (once per parcel) and publish the replacement order of fulfilment ``f``; its id."""
    original = order_from_document(doc)
    by_line = {line.line_no: line for line in original.lines}
    order = Order(
        order_id=intake.new_order_id(now), channel=RESHIP_CHANNEL, channel_order_id=f["id"],
        currency=original.currency, address=original.address, customer=original.customer, placed_at=now,
        lines=tuple(OrderLine(line_no=i, sku=l["sku"], merchant_id=by_line[l["line_no"]].merchant_id,
                              quantity=l["quantity"], unit_price=Decimal("0"), name=by_line[l["line_no"]].name)
                    for i, l in enumerate(f["lines"], start=1)),
        shipping_method=ShippingMethod(doc.get("shipping_method") or "standard"), payment_method=PaymentMethod.ONLINE,
        order_discount=Decimal("0"), shipping_fee=None, b2b=False)
    payment = {"method": "online", "status": "paid", "transaction_id": "", "terms_days": None, "po_number": ""}
    accepted = intake.accept_order(order, payment=payment, now=now, notes=f"reship of {f['id']} ({doc['_id']})",
                                   extra={"reship_for": {"order_id": doc["_id"], "fulfilment_id": f["id"]},
                                          "excluded_warehouses": [f["warehouse_id"]]})
    log.info("reship_order", order_id=doc["_id"], fulfilment_id=f["id"], replacement=accepted.id,
             duplicate=accepted.duplicate)
    return accepted.id


def _run_with(order_id: str, decide_change, more) -> dict:
    """:func:`_run` where ``more(doc)`` gives fields and timeline entries of its own."""
    now = datetime.now(timezone.utc)

    def decide(doc):
        change = decide_change(order_state(doc), now)
        fields, entries = more(doc)
        return {**change_fields(doc, change, now=now), **fields}, list(change.timeline) + entries, change.outcomes

    doc, outcomes = orders.update_with(order_id, decide)
    if doc is None:
        raise OrderNotFound(order_id)
    follow_up(doc, outcomes)
    return doc
