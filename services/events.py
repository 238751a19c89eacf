"""Apply events from outside (payments, WMS acknowledgements, carrier scans) to orders.

Each event rides in its message, which the broker held from the moment the API had its confirm
(services/intake.accept_event): the broker is the inbox. The order's own guarded update records
the event (a payment in ``payments``, a WMS or carrier event in its fulfilment's ``tracking``), so
a second copy, or the same message redelivered after a worker died, changes nothing; an event
the order's state refuses, or one for no known order, is kept in the inbox collection with why
(``documents.inbox.note``). A replay the reconciler sends for an older inbox entry names only the
entry, and loads it.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import structlog

from documents import inbox, orders, reservations
from documents.converters import change_fields, order_state, with_details
from router import cod, lifecycle
from router.errors import IllegalTransition
from router.exceptions import (CARRIER_EXCEPTIONS, ExceptionKind, carrier_reason, resolved, settled_by,
                               timeline_entries, with_flag)
from router.fulfilment_flow import (LIVE_PARCEL, PARTLY_OR_ALL_SHIPPED, SHIPPED_OR_LATER, delivers_fulfilment,
                                    lines_after_shipment, live_owner, moved_meanwhile, stage_of, still_stale)
from router.fulfilment_flow import parcels as all_parcels
from router.paperwork import PaperKind, with_paper
from router.statuses import FulfilmentStatus, PaymentEventType, PaymentStatus, TrackingStatus, WmsEventType
from services import turns
from services.after_sales import CaseNotFound, exchange_progress, refund
from services.channel_sync import outbox_entry, send_pending
from services.direct_events import event_details
from services.dispatch import claim_flags, live_claims, parcels, track_parcels
from services.follow_up import follow_up
from services.routing import send_dispatches

log = structlog.get_logger(__name__)
REROUTING = (WmsEventType.SHORT_PICKED, WmsEventType.REJECTED)  # the warehouse cannot ship it: route elsewhere
SHIPPING = (WmsEventType.SHIPPED, WmsEventType.PARTIALLY_SHIPPED)  # boxes left the warehouse


def apply_payment(event_key: str, event: dict | None = None) -> None:
    event = event or _unprocessed(event_key)
    if event is None:
        return
    p = event["payload"]
    now = datetime.now(timezone.utc)
    if p["type"] == PaymentEventType.REFUNDED and p.get("after_sales_case"):
        _refund_case(event_key, event)
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
        doc, outcomes = _guarded(event_key, event, decide)
    if outcomes is None and doc is not None:
        send_dispatches(doc)  # a replay: the payment is recorded, its dispatches may not be sent
    follow_up(doc, outcomes)
    _close(event_key, event)


def apply_wms_event(event_key: str, event: dict | None = None) -> None:
    """``event`` (order_id, source, payload) rides in the message; replays load it from the inbox."""
    event = event or _unprocessed(event_key)
    if event is None:
        return
    kind = WmsEventType(event["payload"]["type"])
    if kind == WmsEventType.SHIPPED and event["payload"].get("final") is False:
        kind = WmsEventType.PARTIALLY_SHIPPED  # a partial confirmation (Qimen confirmType 1): more will follow
    # what left, out of stock (all of it, or the boxes so far): in the order's own round trip
    shipping = orders.Then(reservations.shipping_writes(event["payload"]["fulfilment_id"])) if kind in SHIPPING \
        else None
    doc = _apply_fulfilment_event(event_key, event, kind, f"wms:{event['source']}", then=shipping)
    if doc is not None and shipping is not None:
        f = next(f for f in doc["fulfilments"] if f["id"] == event["payload"]["fulfilment_id"])
        if f["status"] in PARTLY_OR_ALL_SHIPPED:
            reservations.ship_left(doc, f["id"], shipping.landed)  # what did not go with it (a replay: all)
            track_parcels(doc["_id"], f["id"], parcels(f))  # the waybill and every box the WMS reported
    _close(event_key, event)


def apply_carrier_event(event_key: str, event: dict | None = None) -> None:
    event = event or _unprocessed(event_key)
    if event is None:
        return
    _apply_fulfilment_event(event_key, event, event["payload"]["status"], f"carrier:{event['source']}")
    _close(event_key, event)


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
    """An inbox entry the reconciler re-sent (by key alone), unless it was closed meanwhile."""
    event = inbox.load(event_key)
    return None if event is None or event["processed"] else {**event, "from_inbox": True}


def _close(event_key: str, event: dict) -> None:
    """Close the inbox entry the event came from, if it came from one (a re-sent older entry);
    an event that rode its message has none."""
    if event.get("from_inbox"):
        inbox.mark_processed(event_key)


def _apply_fulfilment_event(event_key: str, event: dict, kind, actor: str, owner_checked: bool = False,
                            then: orders.Then | None = None) -> dict | None:
    """One WMS or carrier event on one fulfilment. A step that cannot change anything derived at
    order level (accepted, picked, packed; scans in transit) is one positional update guarded on
    that fulfilment's status, so events on sibling fulfilments never collide; anything else is a
    version-guarded update of the order, decided on the document already read unless the
    positional update lost a race. Events of one order take turns within the process (see
    actors/turns.py). ``then``: writes that follow from an order-level change, in its round trip
    (``orders.Then``). Returns the order (None when the event was refused)."""
    e, now = event["payload"], datetime.now(timezone.utc)
    claims: dict[str, list[dict]] = {}

    def decide(current):
        return _fulfilment_change(current, e, kind, actor, now, claims)

    with turns.per_order.turn(event["order_id"]):
        if kind not in SHIPPING and not owner_checked:
            done = _step_on_copy(event, kind, actor, now)
            if done is not None:
                return done
        doc = orders.load(event["order_id"], working=True)
        moved = _to_live_owner(doc, event) if doc is not None and actor.startswith("carrier:") \
            and not owner_checked else None
        if moved is None:
            if doc is not None and kind in SHIPPING:
                claims.update(_box_claims(doc, e))
                for number, holders in claims.items():  # before this order holds them: their events look again
                    orders.note_reclaimed(number, holders)
            step = _fast_step(doc, e, kind, actor, now) if doc is not None and not claims else None
            if step is not None and doc is not None and orders.advance_fulfilment(doc["_id"], *step):
                return doc
            doc, outcomes = _guarded(event_key, event, decide, current=None if step else doc, then=then)
    if moved is not None:  # outside this order's turn: the live owner's order takes its own
        return _apply_fulfilment_event(event_key, moved, kind, actor, owner_checked=True)
    follow_up(doc, outcomes)
    if doc is not None:
        exchange_progress(doc)
        send_pending(doc, cause=e.get("event_id"))
    return doc


def _step_on_copy(event: dict, kind, actor: str, now: datetime) -> dict | None:
    """An in-stage step (or a late repeat) decided on the copy of the order this process saw last
    (``orders.recent``) and written without reading the order: ``advance_fulfilment`` guards it
    on what of the order the decision rests on. Returns the order as the copy now has it; None
    when there is no copy, the event needs the order read (a carrier event whose parcel is not
    live and unclaimed on the copy, boxes reported) or the guard no longer held."""
    e = event["payload"]
    doc = orders.recent.get(event["order_id"])
    if doc is None or e.get("packages"):
        return None
    f = next((f for f in doc["fulfilments"] if f["id"] == e.get("fulfilment_id")), None)
    if f is None or (actor.startswith("carrier:") and not _holds_live(f, e.get("tracking_number"))):
        return None
    step = _fast_step(doc, e, kind, actor, now)
    if step is None:
        return None
    fulfilment_id, guard, set_fields, entry, timeline = step
    if not orders.advance_fulfilment(doc["_id"], fulfilment_id, guard, set_fields, entry, timeline, seen=doc):
        return None
    return orders.recent.get(doc["_id"]) or doc


def _holds_live(f: dict, number: str | None) -> bool:
    """Whether fulfilment ``f`` holds parcel ``number`` live and unclaimed (its carrier's events
    are its own); True for an event without a number."""
    return not number or (number in dict(all_parcels(f)) and number not in (f.get("reclaimed_numbers") or [])
                          and orders.parcel_status(f, number) in LIVE_PARCEL)


def _to_live_owner(doc: dict, event: dict) -> dict | None:
    """A carrier event as sent to the parcel's live owner, when that is not the fulfilment the API
    named: the API keeps a number's holders for 5 minutes (``documents.orders._RecentParcelOwners``),
    and a number changes hands when its parcel is delivered or cancelled and the carrier re-issues
    it, or when a newer parcel claims it (``orders.note_reclaimed``). So an event on a parcel no
    longer live or claimed since looks the live owner up again (as the API would have); None when
    the event's fulfilment is it."""
    e = event["payload"]
    number = e.get("tracking_number")
    f = next((f for f in doc["fulfilments"] if f["id"] == e.get("fulfilment_id")), None)
    if f is None or _holds_live(f, number):
        return None
    owner = live_owner(o for o in orders.parcel_owners(number) if o["carrier_id"] == event["source"])
    group = (f.get("merge") or {}).get("group")
    if owner is None or owner["fulfilment_id"] == f["id"] or (group and owner.get("merge_group") == group):
        return None  # it is the owner, or shares the parcel with it (a merged delivery order's waybill)
    log.info("carrier_event_to_live_owner", tracking_number=number, fulfilment_id=f["id"],
             live_fulfilment_id=owner["fulfilment_id"])
    # the carrier's event id as the API would have named it for that owner (a merged order's
    # members each got it suffixed by their fulfilment id), so the members' copies make one event
    event_id = e.get("event_id") or ""
    event_id = event_id.removesuffix(f":{f['id']}") if group else event_id
    if owner.get("merge_group"):
        event_id = f"{event_id}:{owner['fulfilment_id']}"
    return {**event, "order_id": owner["order_id"],
            "payload": {**e, "fulfilment_id": owner["fulfilment_id"], "event_id": event_id or e.get("event_id")}}


def _fast_step(doc: dict, e: dict, kind, actor: str, now: datetime) -> tuple | None:
    """The positional update for an in-stage step, or for recording a late or repeated event, as
    arguments of ``orders.advance_fulfilment`` after the order id; None when the event needs the
    order-level path. Guarded on the statuses the fulfilment may have reached meanwhile, not only
    the one read: a warehouse's or carrier's next event often lands before this one is written."""
    f = next((f for f in doc["fulfilments"] if f["id"] == e["fulfilment_id"]), None)
    if f is None or e.get("final") is False or _tracked(f, e.get("event_id")) or kind in REROUTING \
            or _packages(f, e) != f.get("packages", []) or kind in CARRIER_EXCEPTIONS \
            or f["id"] in order_state(doc).flagged:  # flags to raise or settle: the order-level path
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
    details = event_details(e)
    entry = {**details, "event": str(kind), "received_at": now}
    if e.get("tracking_number") and not f.get("tracking_number"):
        set_fields["tracking_number"] = e["tracking_number"]
    return f["id"], guard, set_fields, entry, with_details(change.timeline, details)


def _refund_case(event_key: str, event: dict) -> None:
    """A refund the payment service made for an after-sales case: the case succeeds with it (a
    second copy finds the case succeeded and is refused)."""
    p = event["payload"]
    try:
        refund(p["after_sales_case"], "payment", transaction_id=p["transaction_id"])
        _close(event_key, event)
    except (IllegalTransition, CaseNotFound) as exc:
        inbox.note(event_key, event, f"refused: {exc}")


def _guarded(event_key: str, event: dict, decide, current: dict | None = None, then: orders.Then | None = None):
    """Apply ``decide`` to the event's order (``current``: its working set, when just read) and
    return it; an event the state forbids is kept in the inbox as refused (not retried: it would be
    refused again) and gives ``(None, None)``; so does an order that does not exist.
    Returns ``(document, outcomes)``."""
    try:
        doc, outcomes = orders.update_with(event["order_id"], decide, current=current, then=then)
    except IllegalTransition as exc:
        log.warning("event_refused", event_key=event_key, reason=str(exc))
        inbox.note(event_key, event, f"refused: {exc}")
        return None, None
    if doc is None:
        inbox.note(event_key, event, "no such order")
    return doc, outcomes


def _box_claims(doc: dict, e: dict) -> dict[str, list[dict]]:
    """``{tracking number: other live parcels holding it}`` for the boxes a warehouse's shipment
    reports that the fulfilment did not hold yet (its booked waybill was checked at booking)."""
    f = next((f for f in doc["fulfilments"] if f["id"] == e["fulfilment_id"]), None)
    if f is None:
        return {}
    held = {n for n, _ in parcels(f)} | {f.get("tracking_number")}
    reported = [(p["tracking_number"], p.get("carrier_id")) for p in e.get("packages") or []]
    reported.append((e.get("tracking_number"), e.get("carrier_id")))
    found = {}
    for number, carrier_id in reported:
        if number and number not in held and number not in found:
            claims = live_claims(number, f["id"], carrier_id or f.get("carrier_id"),
                                 (f.get("merge") or {}).get("group"))  # a merged order's boxes are its members'
            if claims:
                found[number] = claims
    return found


def _fulfilment_change(doc: dict, e: dict, event: str, actor: str, now: datetime,
                       claims: dict[str, list[dict]] | None = None):
    """A WMS or tracking event on one fulfilment: its status (forward only), its tracking history,
    the units shipped by a partial confirmation, the exception flags it raises or settles
    (``claims``: reused box numbers, see :func:`_box_claims`), and the cash a delivered COD parcel
    collected."""
    f = next(f for f in doc["fulfilments"] if f["id"] == e["fulfilment_id"])
    if _tracked(f, e.get("event_id")):
        return None  # applied before a crash
    packages = _packages(f, e)
    if event == TrackingStatus.DELIVERED and not delivers_fulfilment(
            e.get("tracking_number"), [p["tracking_number"] for p in packages],
            [t.get("tracking_number") for t in f.get("tracking", []) if t.get("event") == TrackingStatus.DELIVERED]):
        change = lifecycle.Change()  # one parcel of several delivered: recorded, the others are still out
    else:
        change = lifecycle.on_fulfilment_event(order_state(doc), e["fulfilment_id"], event, now, actor)
    details = event_details(e)
    extra = {"tracking": f.get("tracking", []) + [{**details, "event": str(event), "received_at": now}]}
    if e.get("tracking_number") and not f.get("tracking_number"):
        extra["tracking_number"] = e["tracking_number"]
    if packages != f.get("packages", []):
        extra["packages"] = packages
    if event in REROUTING:
        extra["reroute"] = True  # the warehouse cannot ship it: route it elsewhere
    if event in SHIPPING:
        lines = lines_after_shipment(f["lines"], e.get("lines") or [], final=event == WmsEventType.SHIPPED)
        if lines != f["lines"]:
            extra["lines"] = lines  # what left with a partial confirmation (stock ships it after the save)
    change, payment = _collect_cod(doc, f, change, actor, now)
    fields = change_fields(doc, change, {f["id"]: extra}, now)
    if payment is not None:
        fields["payments"] = doc.get("payments", []) + [payment]
        if fields.get("payment_status") == PaymentStatus.PAID:
            fields["papers"] = with_paper(doc.get("papers", []), PaperKind.RECEIPT, doc["_id"], now,
                                          amount=str(fields.get("paid_amount", payment["amount"])),
                                          transaction_id=payment["transaction_id"])
    flags = _flags(doc, f, e, event, actor, now, change.fulfilments.get(f["id"]), claims or {})
    timeline = with_details(change.timeline, details)
    if flags != (doc.get("exceptions") or []):
        fields["exceptions"] = flags
        timeline += timeline_entries(doc.get("exceptions"), flags, now, actor, fields.get("status", doc["status"]))
    if change.fulfilments.get(f["id"]) in SHIPPED_OR_LATER and f["status"] not in SHIPPED_OR_LATER:
        fields["outbox"] = outbox_entry(doc, "shipped", f["id"], cause=e.get("event_id"), fulfilment_id=f["id"],
                                        carrier_id=f.get("carrier_id"),
                                        tracking_number=extra.get("tracking_number") or f.get("tracking_number"),
                                        order_shipped=fields.get("status") == "shipped")
    return fields, timeline, change.outcomes


def _collect_cod(doc: dict, f: dict, change, actor: str, now: datetime):
    """A cash-on-delivery parcel just delivered: the carrier collected the fulfilment's share of
    the payable (``router/cod.py``), a payment recorded with the delivery in one update. Returns
    ``(change, payment record or None)``."""
    if doc.get("payment_method") != cod.COD_METHOD or change.fulfilments.get(f["id"]) is not FulfilmentStatus.DELIVERED \
            or doc.get("payment_status") not in (PaymentStatus.UNPAID, PaymentStatus.FAILED) \
            or cod.is_collected(doc.get("payments"), f["id"]):
        return change, None
    amount = cod.share(f, (doc.get("amounts") or {}).get("payable"))
    if amount <= 0:
        return change, None
    state = change.apply(order_state(doc))
    paid = lifecycle.on_payment(state, PaymentEventType.PAID, amount, now, actor)
    payment = {"type": PaymentEventType.PAID.value, "amount": str(amount), "transaction_id": cod.transaction_id(f["id"]),
               "method": cod.COD_METHOD, "fulfilment_id": f["id"], "order_id": doc["_id"], "received_at": now}
    return change.then(replace(paid, timeline=tuple(with_details(paid.timeline, {
        "transaction_id": payment["transaction_id"], "method": cod.COD_METHOD, "fulfilment_id": f["id"]})))), payment


def _flags(doc: dict, f: dict, e: dict, event: str, actor: str, now: datetime, new_status, claims) -> list[dict]:
    """The order's exception flags after this event: a carrier exception raises one on the
    fulfilment (not once it was delivered or cancelled), a box number another live parcel holds
    raises one per holder, and an event of the party a flag waited for settles it."""
    flags = list(doc.get("exceptions") or [])
    status = new_status or f["status"]
    if event in CARRIER_EXCEPTIONS and status not in (FulfilmentStatus.DELIVERED, FulfilmentStatus.CANCELLED):
        flags = with_flag(flags, ExceptionKind.CARRIER_EXCEPTION,
                          carrier_reason(event, e.get("raw_status") or "", e.get("exception_reason") or ""), now,
                          fulfilment_id=f["id"], subject=e.get("tracking_number"), tracking_number=e.get("tracking_number"),
                          carrier_event=str(event), detail=e.get("exception_reason") or e.get("description"))
    for number, holders in claims.items():
        flags = claim_flags(flags, holders, number, f["id"], now)
    settled = settled_by(str(event), actor.startswith("wms:"))
    if event == TrackingStatus.DELIVERED and new_status is not FulfilmentStatus.DELIVERED:
        settled = tuple(k for k in settled if k is not ExceptionKind.CARRIER_EXCEPTION)  # other boxes still out
    if settled:
        flags = resolved(flags, actor, now, "delivered" if new_status is FulfilmentStatus.DELIVERED else "moved on",
                         fulfilment_id=f["id"], kinds=settled)
    return flags


def _packages(f: dict, e: dict) -> list[dict]:
    """The fulfilment's parcels as the warehouse reported them, with the event's added (each
    tracking number once, in the order reported; partial and final confirmations add up)."""
    packages = list(f.get("packages", []))
    for p in e.get("packages") or []:
        if p.get("tracking_number") and all(p["tracking_number"] != q["tracking_number"] for q in packages):
            packages.append({"tracking_number": p["tracking_number"], "carrier_id": p.get("carrier_id") or f.get("carrier_id")})
    return packages
