"""Outbound webhooks: subscriptions, the relay that turns an order's timeline into events, and
their signed, ordered, at-least-once delivery.

Where events come from: every change of an order appends its timeline entries in the same
guarded update (documents/orders.py), and the timeline is append-only, so entry ``i`` of an order
is a durable record of what happened. The relay (:func:`sweep`, sent by the scheduler) looks at
orders updated since its watermark (less ``SLACK``), and for each whose version moved past its
cursor fans the entries after the cursor out: one delivery per subscription and topic
(``router.webhooks.topics_of``), keyed by ``<subscription>:<event id>`` so doing it twice
inserts once, then moves the order's cursor. A worker killed anywhere in between leaves the cursor
behind, and the next sweep does it again.

Delivery (:func:`deliver`, the ``deliver_webhooks`` actor, one subscription and order at a time)
sends the lowest pending event only (``router.webhooks.next_to_send``), claims it with a lease,
posts it through the webhook port (signed there), and only after a 2xx moves on to the next:
an order's events reach a receiver in order, each at least once (the event id lets it drop
repeats). A failure is retried on the configured backoff (``ROUTER_WEBHOOK_BACKOFF``) until
``ROUTER_WEBHOOK_GIVE_UP_SECONDS`` after the first attempt, then marked failed; the events after
it wait until an operator replays it (:func:`replay`).
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone

import structlog

from config import get_settings
from documents import webhooks as store
from router import webhooks as rules
from services import timeline_feed
from services.messages import DeliverWebhooks, send
from services.ports import OutboundError, webhooks as webhook_port

log = structlog.get_logger(__name__)
SLACK = timedelta(seconds=60)  # an update stamped before the last sweep may land after it
BATCH = 500
MAX_PER_RUN = 200  # events one delivery run sends before handing over to the next message


class NotFound(Exception):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- subscriptions ------------------------------------------------------------------------------

def subscribe(url: str, topics: list[str], secret: str | None, actor: str, description: str | None = None) -> dict:
    """Create a subscription; its secret (given, or made here) is returned this once."""
    unknown = sorted(set(topics) - set(rules.TOPICS))
    if unknown:
        raise ValueError(f"unknown topics: {', '.join(unknown)}")
    now = _now()
    doc = {"_id": f"whs_{secrets.token_hex(8)}", "url": url, "topics": sorted(set(topics)),
           "secret": secret or f"whsec_{secrets.token_hex(24)}", "description": description, "created_at": now,
           "created_by": actor, "deleted_at": None}
    store.add_subscription(doc)
    log.info("webhook_subscribed", subscription_id=doc["_id"], url=url, topics=doc["topics"], actor=actor)
    return doc


def subscriptions() -> list[dict]:
    return store.subscriptions()


def unsubscribe(sub_id: str, actor: str) -> None:
    if not store.delete_subscription(sub_id, _now()):
        raise NotFound(sub_id)
    log.info("webhook_unsubscribed", subscription_id=sub_id, actor=actor)


# --- the relay ----------------------------------------------------------------------------------

def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # Decimal and the like: as text


def body_of(event_id: str, topic: str, sequence: int, order: dict, entry: dict) -> str:
    """The JSON body of an event (the exact bytes every attempt sends)."""
    payload = {
        "id": event_id, "topic": topic, "order_id": order["_id"], "sequence": sequence,
        "occurred_at": _plain(entry.get("at")),
        "data": {
            "event": entry.get("event"), "actor": entry.get("actor"), "from": entry.get("from"), "to": entry.get("to"),
            "details": _plain(entry.get("details") or {}),
            "order": {k: order.get(k) for k in ("channel", "channel_order_id", "status", "payment_status",
                                                 "shipment_status", "after_sales_status")},
        },
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def fan_out_order(order_id: str, subs: list[dict], now: datetime) -> set[tuple[str, str]]:
    """Record a delivery per subscription and topic for the order's entries after its cursor,
    then move the cursor. Returns the (subscription, order) pairs that got new deliveries."""
    doc = store.order_events(order_id)
    if doc is None:
        return set()
    seen = (store.cursors([order_id]).get(order_id) or {}).get("seen", 0)
    timeline = doc.get("timeline") or []
    rows = []
    for index in range(seen, len(timeline)):
        entry = timeline[index]
        at = entry.get("at")
        for k, topic in enumerate(rules.topics_of(entry)[:rules.TOPICS_PER_ENTRY]):
            sequence = index * rules.TOPICS_PER_ENTRY + k
            eid = rules.event_id(order_id, sequence)
            for sub in subs:
                if topic not in sub["topics"] or (at is not None and at < sub["created_at"]):
                    continue  # not asked for, or it happened before the subscription existed
                rows.append({"_id": f"{sub['_id']}:{eid}", "subscription_id": sub["_id"], "order_id": order_id,
                             "event_id": eid, "topic": topic, "sequence": sequence, "status": rules.PENDING,
                             "attempts": 0, "next_at": now, "created_at": now, "occurred_at": at,
                             "body": body_of(eid, topic, sequence, doc, entry), "log": []})
    store.add_deliveries(rows)
    store.advance_cursor(order_id, len(timeline), doc.get("version", 0))
    return {(r["subscription_id"], order_id) for r in rows}


def fan_out(now: datetime, subs: list[dict]) -> set[tuple[str, str]]:
    """Fan out the events of orders changed since the watermark (``timeline_feed.walk``)."""
    pairs: set[tuple[str, str]] = set()
    timeline_feed.walk(store, (store.watermark() or min(s["created_at"] for s in subs)) - SLACK, now,
                       lambda order_id, _cursor: pairs.update(fan_out_order(order_id, subs, now)))
    return pairs


def sweep(now: datetime | None = None) -> dict:
    """The relay's periodic run: fan out new events, and send a delivery run for every
    subscription and order with an event due (new, retrying, or whose attempt's worker died)."""
    now = now or _now()
    subs = store.subscriptions()
    pairs = fan_out(now, subs) if subs else set()
    if not subs:
        store.set_watermark(now)  # events from before any subscription existed are nobody's
    pairs |= set(store.due_streams(now, BATCH))
    for sub_id, order_id in sorted(pairs):
        send(DeliverWebhooks(sub_id, order_id))
    return {"streams": len(pairs)}


# --- delivery -----------------------------------------------------------------------------------

def deliver(sub_id: str, order_id: str) -> int:
    """Send one subscription's due events of one order, lowest sequence first, each only after
    the one before it was delivered. Returns how many were delivered."""
    sub = store.subscription(sub_id)
    if sub is None or sub.get("deleted_at"):
        return 0
    settings = get_settings()
    schedule = rules.parse_schedule(settings.webhook_backoff)
    delivered = 0
    for _ in range(MAX_PER_RUN):
        now = _now()
        head = rules.next_to_send(store.unsent(sub_id, order_id, 1), now)
        if head is None:
            blocked = store.unsent(sub_id, order_id, 1)
            if blocked:  # later events wait for this one (retrying, in flight, or failed)
                store.hold_behind(sub_id, order_id, blocked[0]["sequence"], blocked[0].get("next_at"))
            return delivered
        lease = now + timedelta(seconds=settings.webhook_lease_seconds)
        if not store.claim(head["_id"], head["attempts"], now, lease):
            return delivered  # another run has it
        attempt = head["attempts"] + 1
        full = store.delivery(head["_id"]) or {}
        try:
            status = webhook_port().post(sub["url"], sub["secret"], head["event_id"], head["topic"],
                                         full["body"].encode())
        except OutboundError as exc:
            done = _now()
            first = full.get("first_attempt_at") or now
            again = rules.retry_at(attempt, first, done, schedule, settings.webhook_give_up_seconds)
            store.mark_failed_attempt(head["_id"], attempt, {"at": done, "attempt": attempt, "status": exc.status,
                                                             "error": str(exc)[:300]}, again)
            store.hold_behind(sub_id, order_id, head["sequence"], again)
            log.info("webhook_failed" if again is None else "webhook_retrying", delivery_id=head["_id"],
                     attempt=attempt, error=str(exc)[:200], retry_at=again)
            return delivered
        done = _now()
        store.mark_delivered(head["_id"], done, {"at": done, "attempt": attempt, "status": status})
        store.release_behind(sub_id, order_id, head["sequence"], done)
        delivered += 1
    send(DeliverWebhooks(sub_id, order_id))  # more than one run's worth: carry on in a new message
    return delivered


def deliveries(subscription_id: str | None = None, order_id: str | None = None, status: str | None = None,
               limit: int = 100) -> list[dict]:
    return store.log(subscription_id, order_id, status, limit)


def replay(delivery_id: str, actor: str) -> dict:
    """Send a delivery again (a failed one, or one the receiver lost): pending and due now, with a
    new give-up window; the order's later events follow it again."""
    if store.delivery(delivery_id) is None:
        raise NotFound(delivery_id)
    row = store.reopen(delivery_id, _now()) or {}
    log.info("webhook_replayed", delivery_id=delivery_id, actor=actor)
    send(DeliverWebhooks(row["subscription_id"], row["order_id"]))
    return row
