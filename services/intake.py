"""Accepting things from outside: one path for every order, payment and event, whatever the edge
(webhook, poller, CSV import, an exchange's replacement order). Store first under a unique key,
then publish; a duplicate key is a replay and has no second effect. A publish that fails after the
store is picked up again by the reconciler, so an accepted order is never lost; the HTTP app
therefore answers once the store lands and publishes behind the answer (adapters/relay.py).

Orders arrive here already validated and in the domain's shape (the wire schema is the edge's:
adapters/intake.py)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from documents import inbox, orders
from documents.converters import new_order_document
from router.dates import plus
from router.model import Order, RoutingDecision
from router.money import price_order
from router.paperwork import PaperKind, with_paper
from services.messages import EVENT_STEPS, ProcessOrder, publish

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
                 order_id: str | None = None) -> Accepted:
    """Store an inbound event (``kind`` payment, wms or carrier) under ``kind:source:key`` and
    publish its actor. With ``apply`` False the event is only recorded, flagged for a person (an
    event word the router does not know): ``published`` is False."""
    event_key, created = inbox.record(kind, source, key, payload, order_id)
    if not created:
        return Accepted(event_key, duplicate=True)
    if not apply:
        inbox.mark_processed(event_key, "flagged: unknown event word")
        return Accepted(event_key, duplicate=False, published=False)
    # the event rides in the message (one read less per event); the inbox keeps it for replays
    event = {"order_id": order_id, "source": source, "payload": _jsonable(payload)}
    return Accepted(event_key, duplicate=False, published=publish(EVENT_STEPS[kind](event_key, event)))


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
