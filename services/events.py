"""Apply events from outside (payments, WMS acknowledgements, carrier scans) to orders.

Each event was stored in the inbox under its dedupe key before it was published, and rides in
its message (a replay sent by the reconciler names only the inbox entry, and loads it). The
order's own guarded update records the event (a payment in ``payments``, a WMS or carrier event
in its fulfilment's ``tracking``), so a duplicate changes nothing; the actor then closes the inbox
entry (applied, refused, or no such order). An actor that died between the two leaves the entry
open: the reconciler closes it if the order records it (:func:`recorded`), else re-sends it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import structlog

from documents import inbox, orders, reservations
from documents.converters import change_fields, order_state, with_details
from router import lifecycle
from router.errors import IllegalTransition
from router.fulfilment_flow import SHIPPED_OR_LATER, delivers_fulfilment, moved_meanwhile, stage_of, still_stale
from router.paperwork import PaperKind, with_paper
from router.statuses import PaymentEventType, TrackingStatus, WmsEventType
from services import turns
from services.after_sales import CaseNotFound, exchange_progress, refund
from services.channel_sync import outbox_entry, send_pending
from services.dispatch import parcels
from services.follow_up import follow_up
from services.messages import RegisterTracking, send
from services.routing import send_dispatches

log = structlog.get_logger(__name__)
REROUTING = (WmsEventType.SHORT_PICKED, WmsEventType.REJECTED)  # the warehouse cannot ship it: route elsewhere


def apply_payment(event_key: str, event: dict | None = None) -> None:
    event = event or _unprocessed(event_key)
    if event is None:
        return
    p = event["payload"]
    now = datetime.now(timezone.utc)
    if p["type"] == PaymentEventType.REFUNDED and p.get("after_sales_case"):
        _refund_case(event_key, p)
        return

    def decide(doc):
        if _payment_recorded(doc, p):
            return None  # applied before a crash: only the follow-ups are left to re-emit
        change = lifecycle.on_payment(order_state(doc), PaymentEventType(p["type"]), Decimal(p["amount"]), now)
        payment = {**p, "received_at": now}
        fields = {**change_fields(doc, change), "payments": doc.get("payments", []) + [payment]}
        if fields.get("payment_status") == "paid":
            fields["papers"] = with_paper(doc.get("papers", []), PaperKind.RECEIPT, doc["_id"], now,
                                          amount=p["amount"], transaction_id=p["transaction_id"])
        return fields, with_details(change.timeline, {"transaction_id": p["transaction_id"]}), change.outcomes

    with turns.per_order.turn(event["order_id"]):
        doc, outcomes = _guarded(event_key, event["order_id"], decide)
    if outcomes is None and doc is not None:
        send_dispatches(doc)  # a replay: the payment is recorded, its dispatches may not be sent
    follow_up(doc, outcomes)
    inbox.mark_processed(event_key)


def apply_wms_event(event_key: str, event: dict | None = None) -> None:
    """``event`` (order_id, source, payload) rides in the message; replays load it from the inbox."""
    event = event or _unprocessed(event_key)
    if event is None:
        return
    kind = WmsEventType(event["payload"]["type"])
    doc = _apply_fulfilment_event(event_key, event, kind, f"wms:{event['source']}")
    if doc is not None and kind == WmsEventType.SHIPPED:
        _ship_stock(doc, event["payload"]["fulfilment_id"])
        f = next(f for f in doc["fulfilments"] if f["id"] == event["payload"]["fulfilment_id"])
        for number, carrier_id in parcels(f):  # the waybill and every box the WMS reported
            send(RegisterTracking(doc["_id"], f["id"], number, carrier_id))
    inbox.mark_processed(event_key)


def apply_carrier_event(event_key: str, event: dict | None = None) -> None:
    event = event or _unprocessed(event_key)
    if event is None:
        return
    _apply_fulfilment_event(event_key, event, event["payload"]["status"], f"carrier:{event['source']}")
    inbox.mark_processed(event_key)


def recorded(event: dict, doc: dict | None) -> bool:
    """Whether the order ``doc`` records the inbox entry ``event`` as applied (its payment in
    ``payments``, or its event id in the fulfilment's tracking history)."""
    if doc is None:
        return False
    p = event["payload"]
    if event["kind"] == "payment":
        return _payment_recorded(doc, p)
    f = next((f for f in doc.get("fulfilments", []) if f["id"] == p.get("fulfilment_id")), None)
    return f is not None and _tracked(f, p.get("event_id"))


def _payment_recorded(doc: dict, p: dict) -> bool:
    return any(x.get("transaction_id") == p["transaction_id"] and x.get("type") == p["type"]
               for x in doc.get("payments", []))


def _tracked(f: dict, event_id: str | None) -> bool:
    return bool(event_id) and any(t.get("event_id") == event_id for t in f.get("tracking", []))


def _unprocessed(event_key: str) -> dict | None:
    event = inbox.load(event_key)
    return None if event is None or event["processed"] else event


def _apply_fulfilment_event(event_key: str, event: dict, kind, actor: str) -> dict | None:
    """One WMS or carrier event on one fulfilment. A step that cannot change anything derived at
    order level (accepted, picked, packed; scans in transit) is one positional update guarded on
    that fulfilment's status, so events on sibling fulfilments never collide; anything else is a
    version-guarded update of the order, decided on the document already read unless the
    positional update lost a race. Events of one order take turns within the process (see
    actors/turns.py). Returns the order (None when the event was refused)."""
    e, now = event["payload"], datetime.now(timezone.utc)

    def decide(current):
        return _fulfilment_change(current, e, kind, actor, now)

    with turns.per_order.turn(event["order_id"]):
        doc = orders.load(event["order_id"], working=True)
        step = _fast_step(doc, e, kind, actor, now) if doc is not None else None
        if step is not None and doc is not None and orders.advance_fulfilment(doc["_id"], *step):
            return doc
        doc, outcomes = _guarded(event_key, event["order_id"], decide, current=None if step else doc)
    follow_up(doc, outcomes)
    if doc is not None:
        exchange_progress(doc)
        send_pending(doc, cause=e.get("event_id"))
    return doc


def _fast_step(doc: dict, e: dict, kind, actor: str, now: datetime) -> tuple | None:
    """The positional update for an in-stage step, or for recording a late or repeated event, as
    arguments of ``orders.advance_fulfilment`` after the order id; None when the event needs the
    order-level path. Guarded on the statuses the fulfilment may have reached meanwhile, not only
    the one read: a warehouse's or carrier's next event often lands before this one is written."""
    f = next((f for f in doc["fulfilments"] if f["id"] == e["fulfilment_id"]), None)
    if f is None or e.get("final") is False or _tracked(f, e.get("event_id")) or kind in REROUTING \
            or _packages(f, e) != f.get("packages", []):
        return None
    try:
        change = lifecycle.on_fulfilment_event(order_state(doc), f["id"], kind, now, actor)
    except IllegalTransition:
        return None  # the slow path records the refusal
    new = change.fulfilments.get(f["id"])
    if change.outcomes or set(change.fields) - {"shipment_status"} \
            or change.fields.get("shipment_status", doc["shipment_status"]) != doc["shipment_status"]:
        return None
    if new is None:  # late or repeated: it only joins the history
        guard, set_fields = still_stale(f["status"], kind), {}
    elif stage_of(f["status"]) == stage_of(new):
        guard, set_fields = moved_meanwhile(f["status"], new), {"status": new.value, f"{new.value}_at": now}
    else:
        return None
    if not guard:
        return None
    details = _details(e)
    entry = {**details, "event": str(kind), "received_at": now}
    if e.get("tracking_number") and not f.get("tracking_number"):
        set_fields["tracking_number"] = e["tracking_number"]
    return f["id"], guard, set_fields, entry, with_details(change.timeline, details)


def _refund_case(event_key: str, p: dict) -> None:
    """A refund the payment service made for an after-sales case: the case succeeds with it."""
    try:
        refund(p["after_sales_case"], "payment", transaction_id=p["transaction_id"])
        inbox.mark_processed(event_key)
    except (IllegalTransition, CaseNotFound) as exc:
        inbox.mark_processed(event_key, f"refused: {exc}")


def _guarded(event_key: str, order_id: str, decide, current: dict | None = None):
    """Apply ``decide`` to the order (``current``: its working set, when just read) and return it;
    an event the state forbids is recorded as refused (not retried: it would be refused again) and
    gives ``(None, None)``; so does an order that does not exist, and the entry is closed.
    Returns ``(document, outcomes)``."""
    try:
        doc, outcomes = orders.update_with(order_id, decide, current=current)
    except IllegalTransition as exc:
        log.warning("event_refused", event_key=event_key, reason=str(exc))
        inbox.mark_processed(event_key, f"refused: {exc}")
        return None, None
    if doc is None:
        inbox.mark_processed(event_key, "no such order")
    return doc, outcomes


def _ship_stock(doc: dict, fulfilment_id: str) -> None:
    """The fulfilment's held units left the warehouse. Idempotent: a hold ships once."""
    f = next((f for f in doc.get("fulfilments", []) if f["id"] == fulfilment_id), None)
    if f is not None and f["status"] in SHIPPED_OR_LATER:
        reservations.ship_all(reservations.holds_of_order(doc, fulfilment_id=fulfilment_id))


def _fulfilment_change(doc: dict, e: dict, event: str, actor: str, now: datetime):
    """A WMS or tracking event on one fulfilment: its status (forward only), its tracking history."""
    f = next(f for f in doc["fulfilments"] if f["id"] == e["fulfilment_id"])
    if _tracked(f, e.get("event_id")):
        return None  # applied before a crash
    packages = _packages(f, e)
    if e.get("final") is False:  # a partial confirmation (Qimen confirmType 1): recorded, more will follow
        event = "partial_confirmation"
        change = lifecycle.Change()
    elif event == TrackingStatus.DELIVERED and not delivers_fulfilment(
            e.get("tracking_number"), [p["tracking_number"] for p in packages],
            [t.get("tracking_number") for t in f.get("tracking", []) if t.get("event") == TrackingStatus.DELIVERED]):
        change = lifecycle.Change()  # one parcel of several delivered: recorded, the others are still out
    else:
        change = lifecycle.on_fulfilment_event(order_state(doc), e["fulfilment_id"], event, now, actor)
    details = _details(e)
    extra = {"tracking": f.get("tracking", []) + [{**details, "event": str(event), "received_at": now}]}
    if e.get("tracking_number") and not f.get("tracking_number"):
        extra["tracking_number"] = e["tracking_number"]
    if packages != f.get("packages", []):
        extra["packages"] = packages
    if event in REROUTING:
        extra["reroute"] = True  # the warehouse cannot ship it: route it elsewhere
    fields = change_fields(doc, change, {f["id"]: extra}, now)
    if change.fulfilments.get(f["id"]) in SHIPPED_OR_LATER and f["status"] not in SHIPPED_OR_LATER:
        fields["outbox"] = outbox_entry(doc, "shipped", f["id"], cause=e.get("event_id"), fulfilment_id=f["id"],
                                        carrier_id=f.get("carrier_id"),
                                        tracking_number=extra.get("tracking_number") or f.get("tracking_number"),
                                        order_shipped=fields.get("status") == "shipped")
    return fields, with_details(change.timeline, details), change.outcomes


def _packages(f: dict, e: dict) -> list[dict]:
    """The fulfilment's parcels as the warehouse reported them, with the event's added (each
    tracking number once, in the order reported; partial and final confirmations add up)."""
    packages = list(f.get("packages", []))
    for p in e.get("packages") or []:
        if p.get("tracking_number") and all(p["tracking_number"] != q["tracking_number"] for q in packages):
            packages.append({"tracking_number": p["tracking_number"], "carrier_id": p.get("carrier_id") or f.get("carrier_id")})
    return packages


def _details(e: dict) -> dict:
    """What the timeline and tracking history keep of an event (times as ISO strings, whichever
    path the event came by)."""
    keys = ("event_id", "tracking_number", "carrier_id", "occurred_at", "location", "description", "raw_status",
            "raw_type", "exception_reason")
    return {k: e[k].isoformat() if isinstance(e[k], datetime) else e[k] for k in keys if e.get(k)}
