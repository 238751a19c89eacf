"""Accepting things from outside: one path for every order, payment and event, whatever the edge
(webhook, poller, CSV import). Store first under a unique key, then publish; a duplicate key is a
replay and has no second effect. A publish that fails after the store is picked up again by the
reconciler, so an accepted order is never lost."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

import structlog

from adapters.schemas import CanonicalOrderSchema, to_domain
from documents import inbox, orders
from documents.converters import new_order_document
from router.model import RoutingDecision
from router.money import price_order

log = structlog.get_logger(__name__)
_order_schema = CanonicalOrderSchema()


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
    doc = new_order_document(order, received_at=now, payment=payment, notes=data.get("notes", ""), raw=raw,
                             flags=list(flags))
    # Until routing prices freight, the payable is what the channel charged.
    amounts = price_order(order, RoutingDecision(fulfilments=())).order
    doc.update(amounts={**amounts.to_dict(), "currency": order.currency}, payable=amounts.payable)
    if doc["payment_status"] == "paid":
        doc["paid_amount"] = amounts.payable
    doc.update(extra or {})
    order_id, created = orders.insert_new(doc)
    if not created:
        return Accepted(order_id, duplicate=True)
    return Accepted(order_id, duplicate=False, published=_publish("process_order", order_id))


def accept_event(kind: str, source: str, key: str, payload: dict, actor_name: str,
                 order_id: str | None = None) -> Accepted:
    """Store an inbound event under ``kind:source:key`` and publish ``actor_name`` for it."""
    event_key, created = inbox.record(kind, source, key, payload, order_id)
    if not created:
        return Accepted(event_key, duplicate=True)
    return Accepted(event_key, duplicate=False, published=_publish(actor_name, event_key))


def _publish(actor_name: str, *args) -> bool:
    """Publish with confirms. False when the broker is unreachable (the reconciler re-sends)."""
    import dramatiq

    try:
        dramatiq.get_broker().get_actor(actor_name).send(*args)
        return True
    except Exception:
        log.warning("publish_failed", actor=actor_name, key=args[0] if args else None, exc_info=True)
        return False
