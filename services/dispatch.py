"""Push a fulfilment to its warehouse: book the carrier's waybill, create the WMS delivery order.

The actor that makes an order ready for the warehouse (routing, a payment, a backorder retry, a
re-route) dispatches its reserved fulfilments itself (:func:`dispatch_reserved`); one whose
dispatch must be retried is left to a ``DispatchFulfilment`` message. Both calls carry the
fulfilment id as idempotency key, so a retried or replayed message creates nothing twice at the
far side. Transient failures are retried (tenacity in-process, then Dramatiq with backoff); a
refusal or the last failed attempt marks the fulfilment ``dispatch_failed``, where an operator can
retry it. A fulfilment of a merchant that merges orders is held for its window first, then goes
inside its merge group's delivery order, under the group id (services/merging.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from decimal import Decimal

import structlog

from config import get_settings
from documents import orders, reference
from documents.converters import change_fields, order_state, with_details
from router import fulfilment_flow, lifecycle
from router.exceptions import ExceptionKind, timeline_entries, with_flag
from router.fulfilment_flow import FulfilmentCommand
from router.paperwork import PaperKind, with_paper
from router.parcels import parcel_for
from router.statuses import FulfilmentStatus
from router.merging import merged_line_no
from services import merging
from services.messages import DispatchFulfilment, RegisterTracking, send
from services.ports import Booking, OutboundError, inline_dispatch, outbound

log = structlog.get_logger(__name__)


DISPATCHABLE = {FulfilmentStatus.RESERVED.value}
RETRYABLE = {FulfilmentStatus.RESERVED.value, FulfilmentStatus.DISPATCH_FAILED.value}


INLINE_BUDGET = 10.0  # seconds a sender spends on dispatching before it leaves the rest to messages


def dispatch_reserved(doc: dict) -> None:
    """Dispatch the reserved fulfilments of the order ``doc`` (as its caller just saved or read it)
    once it may go to the warehouse, here and now: no message of their own in the common case.
    A fulfilment whose dispatch must be retried (the far side still unreachable or answering 5xx
    after its in-process attempts; or any other failure, a database error say) is left to a
    ``DispatchFulfilment`` message, which retries it with backoff and marks it ``dispatch_failed``
    on its last attempt, as before; so is every one not begun within ``INLINE_BUDGET`` seconds,
    which keeps the sender inside its time limit (actors/dispatch.py: one dispatch may take two
    calls of ``outbound_attempts`` tries each). A refusal is recorded by the dispatch itself
    (``dispatch_failed``, which an operator can retry); a fulfilment held for an order merge is not
    dispatched. The outcomes are recorded together, in one guarded update of the order after the
    last call. A replayed sender finds them dispatched and dispatches nothing twice."""
    if not lifecycle.ready_for_dispatch(order_state(doc)):
        return
    if not inline_dispatch():  # not a worker (ports.allow_inline_dispatch): every one as a message
        for f in doc.get("fulfilments", []):
            if f["status"] == FulfilmentStatus.RESERVED:
                send(DispatchFulfilment(doc["_id"], f["id"]))
        return
    started = time.monotonic()
    outcomes: list[Outcome] = []
    for f in doc.get("fulfilments", []):
        if f["status"] != FulfilmentStatus.RESERVED:
            continue
        if time.monotonic() - started > INLINE_BUDGET:
            send(DispatchFulfilment(doc["_id"], f["id"]))
            continue
        try:
            outcome = _call(doc, f["id"], retry=False, last_attempt=False)
        except Exception as exc:  # whatever failed, the message's retries (and its last attempt) take over
            log.warning("dispatch_deferred", order_id=doc["_id"], fulfilment_id=f["id"], error=str(exc),
                        exc_info=not isinstance(exc, OutboundError))
            send(DispatchFulfilment(doc["_id"], f["id"]))
            continue
        if isinstance(outcome, Outcome):
            outcomes.append(outcome)
    _record(doc, outcomes)


def _record(doc: dict, outcomes: list[Outcome]) -> None:
    """Every outcome of an order's inline dispatches in one guarded update (a crash before it: the
    reconciler dispatches them again, idempotent at the WMS and the carrier); one that fails is
    left to the fulfilments' messages, as a failed dispatch is."""
    if not outcomes:
        return
    try:
        mark_all(doc["_id"], outcomes, current=doc)
    except Exception as exc:
        log.warning("dispatch_deferred", order_id=doc["_id"], fulfilment_ids=[o.fulfilment_id for o in outcomes],
                    error=str(exc), exc_info=True)
        for o in outcomes:
            send(DispatchFulfilment(doc["_id"], o.fulfilment_id))


@dataclass(frozen=True)
class Outcome:
    """What came of sending one fulfilment: ``command`` (dispatch, or dispatch_failed) and the
    details to record; ``claims``: other live parcels holding the number just booked."""

    fulfilment_id: str
    command: FulfilmentCommand
    details: dict
    claims: tuple[dict, ...] = ()


def dispatch_fulfilment(order_id: str, fulfilment_id: str, retry: bool = False, last_attempt: bool = True,
                        current: dict | None = None) -> dict | None:
    """``retry``: an operator asked to try a ``dispatch_failed`` fulfilment again. ``last_attempt``:
    the message will not be retried, so a transient failure is recorded rather than raised.
    ``current``: the order's working set as the caller holds it (just saved), decided on without
    reading it again (the outcome's guarded update makes a stale copy cost only a retry, and the
    far side's idempotency keys a call made again).
    Returns the order as it stands after; None when that is not known (held for a merge) or the
    order does not exist."""
    doc = current if current is not None else orders.load(order_id, working=True)
    outcome = _call(doc, fulfilment_id, retry, last_attempt)
    if outcome == HELD:
        return None
    if not isinstance(outcome, Outcome):
        return doc
    return mark_all(order_id, [outcome], current=doc)


HELD = "held"  # _call: the fulfilment waits for an order merge


def _call(doc: dict | None, fulfilment_id: str, retry: bool, last_attempt: bool) -> Outcome | str | None:
    """Send fulfilment ``fulfilment_id`` of ``doc`` to its warehouse (booking its carrier first) and
    return what to record; :data:`HELD` when it waits for an order merge, None when it is not to
    be sent (not ready, or sent already). Raises a retryable ``OutboundError`` unless ``last_attempt``."""
    f = fulfilment_in(doc, fulfilment_id)
    allowed = RETRYABLE if retry else DISPATCHABLE
    if doc is None or f is None or f["status"] not in allowed or not lifecycle.ready_for_dispatch(order_state(doc)):
        return None
    if merging.waits(doc, f, datetime.now(timezone.utc)):
        return HELD  # the timer sweep releases it (services/merging.py)
    group = (f.get("merge") or {}).get("group")
    sent = merged_fulfilment(f) if group else f  # a merge group's members go as one delivery order
    try:
        booking = None if f.get("tracking_number") else _book(doc, sent)
        tracking = f.get("tracking_number") or (booking.tracking_number if booking else None)
        label = f.get("label_url") or (booking.label_url if booking else None)
        payload = delivery_order(doc, sent, tracking, label)
        if group:
            payload.update(merge_group=group, members=sent["members"])
        wms = outbound().wms.create_delivery_order(warehouse_of(f), payload)
    except OutboundError as exc:
        if exc.retryable and not last_attempt:
            raise
        return Outcome(fulfilment_id, FulfilmentCommand.DISPATCH_FAILED, {"error": str(exc)})
    # a number just booked that another live parcel of that carrier still holds: flagged
    claims = live_claims(tracking, fulfilment_id, f.get("carrier_id"), group) \
        if tracking and not f.get("tracking_number") else []
    if tracking and claims:
        orders.note_reclaimed(tracking, claims)  # before this order holds it: their events look again
    details = {"tracking_number": tracking, "wms_order_id": wms.get("wms_order_id"), "error": None}
    if label:
        details["label_url"] = label  # the label bought with the waybill (EasyPost), for the warehouse to print
    return Outcome(fulfilment_id, FulfilmentCommand.DISPATCH, details, tuple(claims))


def register_tracking(order_id: str, fulfilment_id: str, tracking_number: str | None = None,
                      carrier_id: str | None = None) -> None:
    """Subscribe to the carrier's tracking events for one parcel of a shipped fulfilment (the
    sender passes its tracking number and carrier, fixed once booked, to save a read) or, without
    them, for every parcel of it; idempotent at the carrier. A parcel with a carrier we do not
    know is left untracked."""
    found = [(tracking_number, carrier_id)] if tracking_number and carrier_id \
        else parcels(fulfilment_in(orders.load(order_id, working=True), fulfilment_id))
    for number, carrier_id in found:
        carrier = _carrier(carrier_id)
        if carrier is None:
            log.warning("parcel_untracked", fulfilment_id=fulfilment_id, tracking_number=number, carrier_id=carrier_id)
            continue
        outbound().carrier.register_tracker(carrier, number, fulfilment_id)


def track_parcels(order_id: str, fulfilment_id: str, found: Iterable[tuple[str, str]]) -> None:
    """Register the parcels ``found`` (tracking number, carrier) of a fulfilment that just shipped
    with their carriers, here and now (no message of its own for the common case); a parcel whose
    registration fails is left to a ``RegisterTracking`` message, which retries it with backoff
    and ends as a dead letter operators see, as before."""
    for number, carrier_id in found:
        try:
            register_tracking(order_id, fulfilment_id, number, carrier_id)
        except OutboundError as exc:
            log.warning("tracking_registration_deferred", fulfilment_id=fulfilment_id, tracking_number=number,
                        error=str(exc))
            send(RegisterTracking(order_id, fulfilment_id, number, carrier_id))


def live_claims(tracking_number: str, fulfilment_id: str, carrier_id: str | None,
                group: str | None = None) -> list[dict]:
    """The other live parcels (neither delivered nor cancelled) of carrier ``carrier_id`` holding
    ``tracking_number`` (``documents.orders.parcel_owners``): a booking or a warehouse's box that
    claims it is a reused number, flagged on the claiming order (its events go to the newest live
    holder). A parcel of unknown carrier is taken to be of the same one. The members of the merged
    delivery order ``group`` share its waybill: not a reuse."""
    return [o for o in orders.parcel_owners(tracking_number)
            if o["fulfilment_id"] != fulfilment_id and o["status"] in fulfilment_flow.LIVE_PARCEL
            and (group is None or o.get("merge_group") != group)
            and (carrier_id is None or o["carrier_id"] in (None, carrier_id))]


def claim_flags(flags: list | None, claims: Iterable[dict], tracking_number: str, fulfilment_id: str,
                now: datetime) -> list[dict]:
    """``flags`` with a ``tracking_number_reused`` flag for each live parcel in ``claims``."""
    out = list(flags or [])
    for other in claims:
        out = with_flag(out, ExceptionKind.TRACKING_NUMBER_REUSED, "tracking_number_in_use", now,
                        fulfilment_id=fulfilment_id, subject=f"{tracking_number}:{other['fulfilment_id']}",
                        tracking_number=tracking_number, other_order_id=other["order_id"],
                        other_fulfilment_id=other["fulfilment_id"])
    return out


def parcels(f: dict | None) -> list[tuple[str, str]]:
    """The parcels of ``f`` (see :func:`router.fulfilment_flow.parcels`) that have a carrier to track them."""
    return [(number, carrier) for number, carrier in fulfilment_flow.parcels(f) if carrier]


def mark_all(order_id: str, outcomes: Sequence[Outcome], current: dict | None = None) -> dict | None:
    """Record the outcomes of dispatches with the lifecycle rules, one after the other, in one
    guarded update (``current``: the order's working set as the caller read it, to decide on
    without reading again)."""
    now = datetime.now(timezone.utc)

    def decide(doc):
        fields: dict = {}
        timeline: list = []
        for outcome in outcomes:
            step = _marked(doc, outcome, now)
            if step is not None:
                fields.update(step[0])
                timeline += step[1]
                doc = {**doc, **step[0]}  # the next outcome is decided on the order as this one leaves it
        return (fields, timeline, None) if fields else None

    saved, _ = orders.update_with(order_id, decide, current=current)
    return saved


def _marked(doc: dict, outcome: Outcome, now: datetime) -> tuple[dict, list] | None:
    """The fields and timeline entries that record ``outcome`` on ``doc``; None when it is recorded
    already (a replay, or the WMS already answered: its evidence moved the status on)."""
    fulfilment_id, command, details = outcome.fulfilment_id, outcome.command, outcome.details
    change = lifecycle.on_fulfilment_event(order_state(doc), fulfilment_id, command, now)
    f = next(f for f in doc["fulfilments"] if f["id"] == fulfilment_id)
    if change.is_noop and all(f.get(k) == v for k, v in details.items()):
        return None
    fields = change_fields(doc, change, {fulfilment_id: details}, now)
    if command == FulfilmentCommand.DISPATCH:
        fields["papers"] = with_paper(doc.get("papers", []), PaperKind.SHIPPING_NOTE, fulfilment_id, now,
                                      warehouse_id=f["warehouse_id"], tracking_number=details.get("tracking_number"))
    timeline = with_details(change.timeline, details)
    if outcome.claims:
        fields["exceptions"] = claim_flags(doc.get("exceptions"), outcome.claims, details["tracking_number"],
                                           fulfilment_id, now)
        timeline += timeline_entries(doc.get("exceptions"), fields["exceptions"], now, "system",
                                     fields.get("status", doc["status"]))
    return fields, timeline


def delivery_order(doc: dict, f: dict, tracking: str | None, label_url: str | None = None) -> dict:
    """The WMS delivery order of fulfilment ``f``; ``cash_on_delivery`` is the fulfilment's own
    share of a cash-on-delivery order's payable (never the whole order's: a split order would be
    collected twice), None when nothing is collected; ``label_url`` the label bought with the
    waybill, when the carrier gave one."""
    return {"fulfilment_id": f["id"], "order_id": doc["_id"], "warehouse_id": f["warehouse_id"],
            "carrier_id": f.get("carrier_id"), "tracking_number": tracking, "label_url": label_url,
            "ship_to": doc["address"],
            "lines": f["lines"], "shipping_method": doc.get("shipping_method"),
            "cash_on_delivery": cod_amount(doc, f),
            "callback_url": get_settings().public_url}


def merged_fulfilment(f: dict) -> dict:
    """The merged delivery order of the merge group ``f`` is in, as one fulfilment: the group id
    as its id (the WMS's and the carrier's idempotency key), every member's lines not cancelled,
    numbered ``router.merging.merged_line_no`` and naming their order and fulfilment, the cash
    the courier collects for them all; ``members``: ``{order_id, fulfilment_id, lines}``."""
    lines, members, cod = [], [], []
    for i, (order_id, fulfilment_id) in enumerate(merging.members_of(f)):
        member_doc = orders.load(order_id, working=True)
        member = fulfilment_in(member_doc, fulfilment_id)
        if member_doc is None or member is None or member["status"] == FulfilmentStatus.CANCELLED.value:
            continue
        own = [{**line, "line_no": merged_line_no(i, line["line_no"]), "order_id": order_id,
                "fulfilment_id": fulfilment_id} for line in member["lines"]]
        lines += own
        members.append({"order_id": order_id, "fulfilment_id": fulfilment_id, "lines": own})
        share = cod_amount(member_doc, member)
        if share is not None:
            cod.append(Decimal(share))
    return {**f, "id": f["merge"]["group"], "lines": lines, "members": members,
            "cod_amount": str(sum(cod, Decimal(0))) if cod else None}


def cod_amount(doc: dict, f: dict) -> str | None:
    """What the courier collects with ``f``: its ``cod_amount`` (set at routing), or for a
    fulfilment stored before that field its own payable; None unless paid on delivery."""
    if doc.get("payment_method") != "cod":
        return None
    return f.get("cod_amount") or (f.get("amounts") or {}).get("payable")


def _book(doc: dict, f: dict) -> Booking | None:
    if not f.get("carrier_id"):
        return None
    warehouse = warehouse_of(f)
    # the catalogue's weights (and a single unit's dimensions), as freight was priced at routing
    parcel = parcel_for(((line["sku"], line["quantity"]) for line in f["lines"]), reference.load_network().skus)
    carrier = _carrier(f["carrier_id"])
    assert carrier is not None, "routing chose it from the reference data"
    return outbound().carrier.book_shipment(carrier, {
        "fulfilment_id": f["id"], "service_level": doc.get("shipping_method", "standard"),
        "ship_from": {"warehouse_id": warehouse["_id"], "country": warehouse.get("country"),
                      "region": warehouse.get("region")},
        "ship_to": doc["address"], "parcels": [parcel.to_dict()]})


def fulfilment_in(doc: dict | None, fulfilment_id: str) -> dict | None:
    """The fulfilment ``fulfilment_id`` of the stored order ``doc``, or None."""
    return next((f for f in (doc or {}).get("fulfilments", []) if f["id"] == fulfilment_id), None)


def warehouse_of(f: dict) -> dict:
    """The reference record of the warehouse fulfilment ``f`` is at."""
    warehouse = reference.cached("warehouses", f["warehouse_id"])
    assert warehouse is not None, "a fulfilment's warehouse is in the reference data"
    return warehouse


def _carrier(carrier_id: str) -> dict | None:
    return reference.cached("carriers", carrier_id)
