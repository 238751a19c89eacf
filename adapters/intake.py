"""Accepting things from outside: one path for every order, payment and event, whatever the edge
(webhook, poller, CSV import). Store first under a unique key, then publish; a duplicate key is a
replay and has no second effect. A publish that fails after the store is picked up again by the
reconciler, so an accepted order is never lost; the HTTP app therefore answers once the store
lands and publishes behind the answer (adapters/relay.py)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import structlog

from adapters.schemas import CanonicalOrderSchema, to_domain
from documents import inbox, orders
from documents.converters import new_order_document
from router.model import RoutingDecision
from router.money import price_order
from router.paperwork import PaperKind, with_paper

log = structlog.get_logger(__name__)
_order_schema = CanonicalOrderSchema()
DEFAULT_TERMS_DAYS = 30


@dataclass(frozen=True)
class Accepted:
    id: str
    duplicate: bool
    published: bool = True


def new_order_id(now: datetime) -> str:
    """Sortable by day, unguessable, and safe as a key inside MongoDB field paths."""
    return f"O{now:%y%m%d}{secrets.token_hex(5).upper()}"


def accept_order(channel: str, payload: dict, *, raw: dict | None = None, flags: list[str] = (),
                 now: datetime | None = None, extra: dict | None = None) -> Accepted:
    """Validate a canonical order dict (raises marshmallow ValidationError), store it, publish routing."""
    data = _order_schema.load(payload)
    now = now or datetime.now(timezone.utc)
    order = to_domain(new_order_id(now), channel, data)
    payment = {k: (v.value if hasattr(v, "value") else v) for k, v in (data.get("payment") or {}).items()}
    if payment.get("method") == "terms":  # B2B: net N days from the order (30 unless agreed otherwise)
        payment["due_at"] = data["placed_at"] + timedelta(days=payment.get("terms_days") or DEFAULT_TERMS_DAYS)
    doc = new_order_document(order, received_at=now, payment=payment, notes=data.get("notes", ""), raw=raw,
                             flags=list(flags))
    # Until routing prices freight, the payable is what the channel charged.
    amounts = price_order(order, RoutingDecision(fulfilments=())).order
    doc.update(amounts={**amounts.to_dict(), "currency": order.currency}, payable=amounts.payable)
    if doc["payment_status"] == "paid":
        doc["paid_amount"] = amounts.payable
        doc["papers"] = with_paper([], PaperKind.RECEIPT, doc["_id"], now, amount=str(amounts.payable),
                                   transaction_id=payment.get("transaction_id") or f"{channel}:{order.channel_order_id}")
    doc.update(extra or {})
    order_id, created = orders.insert_new(doc)
    if not created:
        return Accepted(order_id, duplicate=True)
    return Accepted(order_id, duplicate=False, published=_publish("process_order", order_id))


def accept_event(kind: str, source: str, key: str, payload: dict, actor_name: str | None,
                 order_id: str | None = None) -> Accepted:
    """Store an inbound event under ``kind:source:key`` and publish ``actor_name`` for it.

    With ``actor_name`` None the event is only recorded, flagged for a person (an event word
    the router does not know): ``published`` is False.
    """
    event_key, created = inbox.record(kind, source, key, payload, order_id)
    if not created:
        return Accepted(event_key, duplicate=True)
    if actor_name is None:
        inbox.mark_processed(event_key, "flagged: unknown event word")
        return Accepted(event_key, duplicate=False, published=False)
    # the event rides in the message (one read less per event); the inbox keeps it for replays
    event = {"order_id": order_id, "source": source, "payload": _jsonable(payload)}
    return Accepted(event_key, duplicate=False, published=_publish(actor_name, event_key, event))


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _publish(actor_name: str, *args) -> bool:
    """Publish with confirms, through the relay thread where one runs (see adapters/relay.py).
    False when an inline publish failed (the reconciler re-sends)."""
    from adapters import relay

    return relay.publish(actor_name, *args)


def accept_channel_order(channel: str, channel_order, webhook_id: str | None) -> Accepted:
    """A channel's native order webhook (create, update or cancel), already mapped.

    A new order is accepted (routed unless the channel fulfils it itself, e.g. Amazon AFN) with
    one insert, which also records the webhook id. A repeated delivery (a webhook id the order
    has seen) or a stale update (an older ``updated_at``) changes nothing; a newer update that says
    paid records the payment; one that says cancelled cancels the order here, and the channel is
    not told back what it told us.
    """
    from documents import orders

    extra = {"channel_updated_at": channel_order.updated_at, "native_status": channel_order.native_status,
             "ship_by": channel_order.ship_by, "webhook_ids": [webhook_id] if webhook_id else []}
    if not channel_order.route:
        extra["routing"] = {"state": "external", "reason": "fulfilled by the channel", "attempts": 0}
    accepted = accept_order(channel, channel_order.canonical, raw=channel_order.raw, flags=channel_order.flags,
                            extra=extra)
    if accepted.duplicate:
        seen = orders.collection().find_one({"_id": accepted.id}, {"webhook_ids": 1}) or {}
        if webhook_id and webhook_id in (seen.get("webhook_ids") or []):
            return accepted  # the same delivery again
        _apply_channel_update(channel, accepted.id, channel_order)
        if webhook_id:
            orders.collection().update_one({"_id": accepted.id},
                                           {"$push": {"webhook_ids": {"$each": [webhook_id], "$slice": -50}}})
    elif channel_order.cancelled:
        _apply_channel_update(channel, accepted.id, channel_order)
    return accepted


def _refund_from_channel(channel: str, doc: dict, amount) -> None:
    """The channel refunded more than the router knows of: record it (never told back)."""
    from actors.after_sales import refund_from_channel
    from router.errors import IllegalTransition

    try:
        refund_from_channel(doc["_id"], channel, amount)
    except (IllegalTransition, ValueError) as exc:
        log.warning("channel_refund_refused", order_id=doc["_id"], amount=str(amount), reason=str(exc))


def _apply_channel_update(channel: str, order_id: str, channel_order) -> None:
    from actors import commands
    from documents import orders
    from router.errors import IllegalTransition

    doc = orders.load(order_id)
    seen = doc.get("channel_updated_at")
    if channel_order.updated_at and seen and channel_order.updated_at <= seen and not channel_order.cancelled:
        return  # stale: an older state of the order than the one we hold
    if channel_order.cancelled and doc["status"] not in ("cancelled", "closed"):
        try:
            commands.cancel(order_id, f"channel:{channel}")
        except IllegalTransition:
            log.warning("channel_cancel_refused", order_id=order_id, status=doc["status"])
    elif channel_order.refunded and channel_order.refunded > Decimal(doc.get("refunded_amount") or 0):
        _refund_from_channel(channel, doc, channel_order.refunded - Decimal(doc.get("refunded_amount") or 0))
    elif (channel_order.canonical.get("payment") or {}).get("status") == "paid" and doc["payment_status"] != "paid":
        accept_event("payment", channel, f"{channel_order.canonical['channel_order_id']}:paid",
                     {"order_id": order_id, "transaction_id": f"{channel}:{channel_order.canonical['channel_order_id']}",
                      "type": "paid", "amount": str(doc.get("payable") or doc["amounts"]["payable"])},
                     "apply_payment", order_id=order_id)
    if channel_order.updated_at:
        orders.collection().update_one({"_id": order_id,  # unset or older; no top-level $or (a scan on the embedded server)
                                        "channel_updated_at": {"$not": {"$gte": channel_order.updated_at}}},
                                       {"$set": {"channel_updated_at": channel_order.updated_at,
                                                 "native_status": channel_order.native_status}})
