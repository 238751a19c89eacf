"""Warehouse and carrier events applied where they arrive, without reading the order.

Most of a fulfilment's events move it within one stage: the warehouse's accepted, picked and
packed, its carrier's label, in-transit and out-for-delivery scans. ``router.lifecycle.direct_step``
decides each from the event alone, for an order in the state ``router.lifecycle.DIRECT_STEPS``
names, and one positional update guarded on that state (``documents.orders.Unread``) records it:
the fulfilment's status, the event in its tracking history (its id guards against a second copy;
``direct`` marks it) and the order's timeline entry, as the message path would have written them.
The API does this before it answers, so such an event costs one database write and no message.
When the guard does not hold (a flag, a cancel asked, an event that overtook the one before it, a
repeat) nothing is written and the event takes the message path (services/intake.accept_event),
whose worker reads the order and decides on all of it. So does
every event while the database cannot be reached (:data:`PAUSE_AFTER_OUTAGE` seconds after a
write found it down): the broker keeps it, as it kept every event before, and no request waits
on the database's timeouts. A write that timed out may have landed: its event's message then
finds the event recorded and changes nothing.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

import structlog

from documents import orders
from documents.connection import DATABASE_DOWN
from documents.converters import with_details
from router import lifecycle
from router.statuses import TrackingStatus, WmsEventType

_WORDS = {"wms": frozenset(WmsEventType), "carrier": frozenset(TrackingStatus)}
PAUSE_AFTER_OUTAGE = 10.0
_paused_until = [0.0]  # monotonic time before which every event goes by message
log = structlog.get_logger(__name__)


def apply(kind: str, source: str, order_id: str | None, payload: dict) -> bool:
    """Apply warehouse (``kind`` ``wms``) or carrier (``carrier``) ``source``'s event ``payload``
    on its fulfilment of order ``order_id`` directly. True when it landed; False, with nothing
    written, when it needs the message path."""
    fulfilment_id, event_id = payload.get("fulfilment_id"), payload.get("event_id")
    word = payload.get("type") if kind == "wms" else payload.get("status")
    if not (order_id and fulfilment_id and event_id) or word not in _WORDS.get(kind, ()) \
            or word not in lifecycle.DIRECT_STEPS:
        return False
    if kind == "wms":
        if payload.get("final") is False or payload.get("tracking_number") or payload.get("packages"):
            return False  # partial confirmations and boxes: the order's lines and parcels are read
        scope = {"warehouse_id": source}
    else:
        if not payload.get("tracking_number"):
            return False
        scope = {"tracking_number": payload["tracking_number"]}
    if time.monotonic() < _paused_until[0]:
        return False
    try:
        return _write(kind, source, order_id, fulfilment_id, word, payload, scope)
    except DATABASE_DOWN as exc:
        _paused_until[0] = time.monotonic() + PAUSE_AFTER_OUTAGE
        log.warning("direct_events_paused", seconds=PAUSE_AFTER_OUTAGE, error=str(exc))
        return False


def _write(kind: str, source: str, order_id: str, fulfilment_id: str, word: str, payload: dict, scope: dict) -> bool:
    befores, states = lifecycle.DIRECT_STEPS[word]
    details, now = event_details(payload), datetime.now(timezone.utc)
    entry = {**details, "event": str(word), "received_at": now, "direct": True}  # applied here, not by message
    for before in befores:  # the likeliest first; each a guarded write that lands or not
        for status, shipment in states:
            change = lifecycle.direct_step(order_id, fulfilment_id, word, now, f"{kind}:{source}", before,
                                           (status, shipment))
            new = change.fulfilments.get(fulfilment_id)
            set_fields = {} if new is None else {"status": new.value, f"{new.value}_at": now}
            unread = orders.Unread(status.value, shipment.value if shipment else None, **scope)
            if orders.advance_fulfilment(order_id, fulfilment_id, (before.value,), set_fields, entry,
                                         with_details(change.timeline, details), unread=unread):
                return True
    return False


def event_details(e: dict) -> dict:
    """What the timeline and tracking history keep of an event (times as ISO strings, whichever
    path the event came by)."""
    keys = ("event_id", "tracking_number", "carrier_id", "occurred_at", "location", "description", "raw_status",
            "raw_type", "exception_reason")
    return {k: e[k].isoformat() if isinstance(e[k], datetime) else e[k] for k in keys if e.get(k)}
