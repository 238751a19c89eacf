"""Outbound webhooks, the pure parts: which topics an order's timeline entry raises, how a
delivery is signed and checked, and the rule that keeps an order's events in order.

No I/O here: services/webhooks.py records and relays, adapters/outbound/webhooks.py posts.

Signing (what a receiver checks): the body is sent as is; ``X-Router-Signature`` is
``t=<unix seconds>,v1=<hex>`` where ``<hex>`` is HMAC-SHA256, keyed with the subscription's
secret (UTF-8), of the bytes ``<t>.<body>``. A receiver recomputes it over the raw body, compares
in constant time, refuses a ``t`` too far from its clock (replays), and drops an event whose
``X-Router-Event-Id`` (also the body's ``id``) it has seen (deliveries are at least once).
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

ORDER_CREATED = "order.created"
ORDER_ROUTED = "order.routed"
FULFILMENT_SHIPPED = "fulfilment.shipped"
ORDER_DELIVERED = "order.delivered"
ORDER_CANCELLED = "order.cancelled"
REFUND_CREATED = "refund.created"
EXCEPTION_RAISED = "exception.raised"
TOPICS = (ORDER_CREATED, ORDER_ROUTED, FULFILMENT_SHIPPED, ORDER_DELIVERED, ORDER_CANCELLED, REFUND_CREATED,
          EXCEPTION_RAISED)

SIGNATURE_HEADER = "X-Router-Signature"
EVENT_ID_HEADER = "X-Router-Event-Id"
TOPIC_HEADER = "X-Router-Topic"

# Delivery states (documents/webhooks.py): waiting or being tried, delivered (a 2xx), failed
# (tried for the whole give-up window; replayable).
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
TOPICS_PER_ENTRY = 8  # an entry's topics take sequence numbers index * 8 + k


def _changed_to(entry: Mapping, key: str) -> object:
    change = ((entry.get("details") or {}).get("changes") or {}).get(key)
    return change[1] if isinstance(change, (list, tuple)) and len(change) == 2 and change[0] != change[1] else None


def topics_of(entry: Mapping) -> list[str]:
    """The topics one timeline entry raises, in order (most raise none)."""
    event = str(entry.get("event") or "")
    changes = (entry.get("details") or {}).get("changes") or {}
    topics = []
    if event == "received":
        topics.append(ORDER_CREATED)
    if event == "routing.routed":
        topics.append(ORDER_ROUTED)
    shipped = [k for k, v in changes.items() if k.startswith("fulfilments.") and isinstance(v, (list, tuple))
               and len(v) == 2 and v[1] == "shipped" and v[0] != "shipped"]
    if shipped:
        topics.append(FULFILMENT_SHIPPED)
    if _changed_to(entry, "shipment_status") == "delivered":
        topics.append(ORDER_DELIVERED)
    if entry.get("to") in ("cancelled", "rejected") and entry.get("from") != entry.get("to"):
        topics.append(ORDER_CANCELLED)
    if _changed_to(entry, "after_sales_status") == "awaiting_refund":
        topics.append(REFUND_CREATED)
    if event == "exception.flagged":
        topics.append(EXCEPTION_RAISED)
    return topics


def event_id(order_id: str, sequence: int) -> str:
    """An event's id: the same for every subscription and every attempt (receivers dedupe by it)."""
    return f"{order_id}.{sequence}"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed with ``secret``."""
    return hmac.new(secret.encode(), str(int(timestamp)).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={int(timestamp)},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str | None, body: bytes, now: float, tolerance: float = 300.0) -> bool:
    """What a receiver does: the header parses, its time is within ``tolerance`` seconds of
    ``now``, and one of its ``v1`` values is the signature of this body (constant-time compare)."""
    if not header:
        return False
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts.get("t", [""])[0])
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


def next_to_send(unsent: Sequence[Mapping], now: datetime) -> Mapping | None:
    """The ordering rule: of one subscription's not yet delivered events of one order, sorted by
    sequence, only the first may go, and only once it is ``pending`` and due. A later event waits
    while an earlier one is retrying, being tried (its lease is its ``next_at``) or failed (until
    it is replayed), so a receiver never gets an order's event before the earlier ones."""
    if not unsent:
        return None
    head = unsent[0]
    if any(row["sequence"] < head["sequence"] for row in unsent[1:]):
        raise ValueError("unsent events must be sorted by sequence")
    if head["status"] != PENDING or head.get("next_at") is None or head["next_at"] > now:
        return None
    return head


def parse_schedule(text: str) -> tuple[float, ...]:
    """``"5,30,120"`` -> seconds to wait after the 1st, 2nd, 3rd... failure (the last repeats)."""
    values = tuple(float(v) for v in text.split(",") if v.strip())
    if not values or any(v < 0 for v in values):
        raise ValueError(f"a backoff schedule is comma-separated non-negative seconds, not {text!r}")
    return values


def retry_at(failures: int, first_attempt: datetime, now: datetime, schedule: Sequence[float],
             give_up_after: float) -> datetime | None:
    """When to try again after the ``failures``-th failed attempt, or None to give up: past
    ``give_up_after`` seconds since the first attempt."""
    if (now - first_attempt).total_seconds() >= give_up_after:
        return None
    wait = schedule[min(max(failures, 1), len(schedule)) - 1]
    return now + timedelta(seconds=wait)
