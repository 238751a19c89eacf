"""Accepting things from outside: one path for every order, payment and event, whatever the edge
(webhook, poller, CSV import, an exchange's replacement order). An order is stored first under a
unique key, then published; a duplicate key is a replay and has no second effect. A publish that
fails after the store is picked up again by the reconciler, so an accepted order is never lost;
the HTTP app therefore answers once the store lands and publishes behind the answer
(adapters/relay.py). An event is the other way round: the broker's confirm of its message is what
makes it safe, and the order's update dedupes it (:func:`accept_event`); or, for a warehouse's or
carrier's in-stage step, the order's own guarded write, with no message (services/direct_events.py).

Orders arrive here already validated and in the domain's shape (the wire schema is the edge's:
adapters/intake.py)."""
from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from documents import inbox, orders
from documents.converters import new_order_document
from router.dates import plus
from router.model import Order, RoutingDecision
from router.money import price_order
from router.paperwork import PaperKind, with_paper
from services import direct_events
from services.messages import EVENT_STEPS, ProcessOrder, publish, send

log = structlog.get_logger(__name__)
DEFAULT_TERMS_DAYS = 30


@dataclass(frozen=True)
class Accepted:
    id: str
    duplicate: bool
    published: bool = True


def new_order_id(now: datetime) -> str:
    """Sortable by day, unguessable, and safe as a key inside MongoDB field paths."""
    return f"O{now:%y%m%d}{secrets.token_hex(5).upper()}"


def accept_order(order: Order, *, payment: dict, now: datetime, notes: str = "", raw: dict | None = None,
                 flags: list[str] | tuple[str, ...] = (), extra: dict | None = None) -> Accepted:
    """Store a validated order (``payment``: method, status, transaction id, terms) and publish
    its routing. A ``(channel, channel order id)`` seen before is a duplicate: nothing changes."""
    payment = dict(payment)
    if payment.get("method") == "terms":  # B2B: net N days from the order (30 unless agreed otherwise)
        payment["due_at"] = plus(order.placed_at, timedelta(days=payment.get("terms_days") or DEFAULT_TERMS_DAYS))
    doc = new_order_document(order, received_at=now, payment=payment, notes=notes, raw=raw, flags=list(flags))
    # Until routing prices freight, the payable is what the channel charged.
    amounts = price_order(order, RoutingDecision(fulfilments=())).order
    doc.update(amounts={**amounts.to_dict(), "currency": order.currency, "tax_included": order.prices_include_tax},
               payable=amounts.payable)
    if doc["payment_status"] == "paid":
        # the money taken is what the channel says it charged, when it says (routing holds an
        # order whose payable differs from it: amount_mismatch)
        paid = order.stated_total if order.stated_total is not None else amounts.payable
        doc["paid_amount"] = paid
        doc["papers"] = with_paper([], PaperKind.RECEIPT, doc["_id"], now, amount=str(paid),
                                   transaction_id=payment.get("transaction_id")
                                   or f"{order.channel}:{order.channel_order_id}")
    doc.update(extra or {})
    order_id, created = orders.insert_new(doc)
    if not created:
        return Accepted(order_id, duplicate=True)
    return Accepted(order_id, duplicate=False, published=publish(ProcessOrder(order_id)))


def accept_event(kind: str, source: str, key: str, payload: dict, apply: bool = True,
                 order_id: str | None = None, direct: bool = True) -> Accepted:
    """Accept an inbound event (``kind`` payment, wms or carrier) under ``kind:source:key``.

    The broker is its inbox: the event rides in a persistent message, sent now with publisher
    confirms (a broker that refuses raises, and the caller answers 503 so the sender retries), and
    the worker's guarded update of the order, which records the event (a payment in ``payments``,
    a WMS or carrier event id in its fulfilment's tracking history), drops a second copy. So an
    accepted event costs no database write on the request path, and none to close it after. A
    redelivery this process sent lately answers as a duplicate without a second message
    (:class:`_Published`); any other copy is sent and dropped by the worker.

    A warehouse's or carrier's in-stage step (``services.direct_events``) is first tried without a
    message: one guarded write of the order, which makes it safe as the confirm would; only when
    its guard does not hold is it sent. ``direct`` False: that was tried already.

    With ``apply`` False the event is kept in the inbox flagged for a person (an event word the
    router does not know) and not applied: ``published`` is False."""
    if not apply:
        event_key, created = inbox.record(kind, source, key, payload, order_id)
        if created:
            inbox.mark_processed(event_key, "flagged: unknown event word")
        return Accepted(event_key, duplicate=not created, published=False)
    event_key = inbox.key(kind, source, key)
    done = accept_directly(kind, source, key, payload, order_id, write=direct)
    if done is not None:
        return done
    send(EVENT_STEPS[kind](event_key, {"order_id": order_id, "source": source, "payload": _jsonable(payload)}))
    _published.add(event_key, order_id)
    return Accepted(event_key, duplicate=False)


def accept_directly(kind: str, source: str, key: str, payload: dict, order_id: str | None,
                    write: bool = True) -> Accepted | None:
    """The first half of :func:`accept_event`: a duplicate this process accepted lately, or (with
    ``write``) a warehouse's or carrier's in-stage step applied without a message
    (``services.direct_events``). None when the event is to be sent."""
    event_key = inbox.key(kind, source, key)
    if _published.seen(event_key, order_id):
        return Accepted(event_key, duplicate=True)
    if write and direct_events.apply(kind, source, order_id, payload):
        _published.add(event_key, order_id)
        return Accepted(event_key, duplicate=False)
    return None


class _Published:
    """The events this process had confirmed by the broker lately, as ``(event key, order id)``
    (the order id keeps apart tests that share a process and reuse event ids). Bounded, oldest
    forgotten first. Not what makes a duplicate harmless (the order's guarded update is): it only
    spares a redelivery's second message and lets the answer say ``duplicate``."""

    def __init__(self, size: int = 100_000):
        self.size, self.lock = size, threading.Lock()
        self.keys: OrderedDict[tuple[str, str | None], None] = OrderedDict()

    def seen(self, event_key: str, order_id: str | None) -> bool:
        with self.lock:
            return (event_key, order_id) in self.keys

    def add(self, event_key: str, order_id: str | None) -> None:
        with self.lock:
            self.keys[(event_key, order_id)] = None
            while len(self.keys) > self.size:
                self.keys.popitem(last=False)


_published = _Published()


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
