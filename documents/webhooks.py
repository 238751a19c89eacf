"""Outbound webhooks' records and every query on them.

- ``webhook_subscriptions``: one per subscription (URL, secret, topics); deleting one stamps
  ``deleted_at`` (its delivery log stays).
- ``webhook_deliveries``: one per subscription and event, ``_id`` ``<subscription>:<event id>``
  (unique: fanning an event out twice inserts it once), with the exact body sent on every
  attempt, its ``sequence`` in the order, ``status`` (``router.webhooks``: pending, delivered,
  failed), ``attempts``, ``next_at`` (when it may be tried: a backoff, or the lease of the
  attempt under way) and the last attempts' outcomes.
- ``webhook_cursors``: per order, how many timeline entries were fanned out (``seen``) at which
  order ``version``; and the relay's watermark (``_id`` ``~watermark``): orders updated since it
  (less a slack) are looked at.
"""
from __future__ import annotations

from datetime import datetime

import mongoengine as me
from pymongo import ASCENDING
from pymongo.errors import BulkWriteError

from documents import orders
from documents.codec import from_bson
from documents.connection import only_duplicates
from documents.leased_attempts import LeasedAttempts
from documents.timeline_cursors import TimelineCursors
from router.webhooks import DELIVERED, FAILED, PENDING



class WebhookSubscription(me.DynamicDocument):
    id = me.StringField(primary_key=True)
    meta = {"collection": "webhook_subscriptions", "indexes": [{"fields": ["deleted_at"]}]}


class WebhookDelivery(me.DynamicDocument):
    id = me.StringField(primary_key=True)
    meta = {"collection": "webhook_deliveries",
            "indexes": [{"fields": ["subscription_id", "order_id", "status", "sequence"]},
                        {"fields": ["status", "next_at"]},
                        {"fields": ["-created_at"]}]}


class WebhookCursor(me.DynamicDocument):
    id = me.StringField(primary_key=True)
    meta = {"collection": "webhook_cursors"}


DOCUMENTS = (WebhookSubscription, WebhookDelivery, WebhookCursor)
# The relay reads orders by when they last changed (``documents.timeline_cursors.orders_changed_since``).
ORDER_INDEXES = [[("updated_at", ASCENDING)]]


def ensure_order_indexes() -> None:
    for keys in ORDER_INDEXES:
        orders.collection().create_index(keys)


def _subs():
    return WebhookSubscription._get_collection()


def _deliveries():
    return WebhookDelivery._get_collection()


def _cursors():
    return WebhookCursor._get_collection()


# --- subscriptions ------------------------------------------------------------------------------

def add_subscription(doc: dict) -> None:
    _subs().insert_one(doc)


def subscription(sub_id: str) -> dict | None:
    found = _subs().find_one({"_id": sub_id})
    return from_bson(found) if found else None


def subscriptions(include_deleted: bool = False) -> list[dict]:
    query = {} if include_deleted else {"deleted_at": None}
    return [from_bson(d) for d in _subs().find(query).sort("created_at", ASCENDING)]


def delete_subscription(sub_id: str, at: datetime) -> bool:
    return _subs().update_one({"_id": sub_id, "deleted_at": None}, {"$set": {"deleted_at": at}}).modified_count == 1


# --- the relay's cursors ------------------------------------------------------------------------

_feed = TimelineCursors(_cursors)
cursors, advance_cursor = _feed.cursors, _feed.advance_cursor


def watermark() -> datetime | None:
    found = _feed.watermark()
    return found["at"] if found else None


def set_watermark(at: datetime) -> None:
    _feed.set_watermark(at)


def order_events(order_id: str) -> dict | None:
    """What fanning out an order's events needs: its timeline, version and summary."""
    found = orders.collection().find_one({"_id": order_id}, {
        "timeline": 1, "version": 1, "channel": 1, "channel_order_id": 1, "status": 1, "payment_status": 1,
        "shipment_status": 1, "after_sales_status": 1, "merchant_ids": 1})
    return from_bson(found) if found else None


# --- deliveries ---------------------------------------------------------------------------------

def add_deliveries(docs: list[dict]) -> int:
    """Insert deliveries, skipping those already there (same id). Returns how many were new."""
    if not docs:
        return 0
    try:
        return len(_deliveries().insert_many(docs, ordered=False).inserted_ids)
    except BulkWriteError as exc:
        if not only_duplicates(exc):
            raise
        return exc.details.get("nInserted", 0)


def delivery(delivery_id: str) -> dict | None:
    found = _deliveries().find_one({"_id": delivery_id})
    return from_bson(found) if found else None


def unsent(sub_id: str, order_id: str, limit: int = 1) -> list[dict]:
    """A subscription's not yet delivered events of one order, lowest sequence first."""
    return [from_bson(d) for d in _deliveries().find(
        {"subscription_id": sub_id, "order_id": order_id, "status": {"$in": [PENDING, FAILED]}},
        {"body": 0, "log": 0}).sort("sequence", ASCENDING).limit(limit)]


_attempts = LeasedAttempts(_deliveries, pending=PENDING, done=DELIVERED, failed=FAILED, done_at="delivered_at")
claim = _attempts.claim
mark_delivered = _attempts.mark_done
mark_failed_attempt = _attempts.mark_failed_attempt

def hold_behind(sub_id: str, order_id: str, sequence: int, until: datetime | None) -> None:
    """Later pending events of the order wait for the one at ``sequence`` (``until`` None: until it
    is replayed); the due sweep then leaves them alone."""
    _deliveries().update_many({"subscription_id": sub_id, "order_id": order_id, "status": PENDING,
                               "sequence": {"$gt": sequence}}, {"$set": {"next_at": until, "held_by": sequence}})


def release_behind(sub_id: str, order_id: str, sequence: int, now: datetime) -> None:
    _deliveries().update_many({"subscription_id": sub_id, "order_id": order_id, "status": PENDING,
                               "sequence": {"$gt": sequence}}, {"$set": {"next_at": now}, "$unset": {"held_by": ""}})


def reopen(delivery_id: str, now: datetime) -> dict | None:
    """Make a delivery pending and due now, with a new give-up window (a replay)."""
    _deliveries().update_one({"_id": delivery_id}, {"$set": {"status": PENDING, "next_at": now,
                                                             "first_attempt_at": now, "replayed_at": now},
                                                    "$unset": {"delivered_at": ""}})
    return delivery(delivery_id)


def due_streams(now: datetime, limit: int) -> list[tuple[str, str]]:
    """``(subscription, order)`` pairs with a pending delivery due by ``now`` (a retry, a lost
    lease, or one never tried)."""
    pairs: dict[tuple[str, str], None] = {}
    for d in _deliveries().find({"status": PENDING, "next_at": {"$lte": now}},
                                {"subscription_id": 1, "order_id": 1}).limit(limit):
        pairs[(d["subscription_id"], d["order_id"])] = None
    return list(pairs)


def log(subscription_id: str | None = None, order_id: str | None = None, status: str | None = None,
        limit: int = 100) -> list[dict]:
    """The delivery log, newest first (bodies left out)."""
    query = {k: v for k, v in (("subscription_id", subscription_id), ("order_id", order_id), ("status", status)) if v}
    return [from_bson(d) for d in _deliveries().find(query, {"body": 0}).sort("created_at", -1).limit(limit)]
