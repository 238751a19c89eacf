"""Customer e-mail notifications' records and every query on them.

- ``notifications``: one per notification, ``_id`` its idempotency key
  (``router.notifications.notification_id``: unique, so fanning an order out twice inserts once),
  with the exact message sent on every attempt (``to``, ``subject``, ``body``, ``language``),
  ``status`` (``router.notifications``: pending, sent, failed), ``attempts``, ``next_at`` (when it
  may be tried: a backoff, or the lease of the attempt under way) and the last attempts' outcomes.
- ``notification_cursors``: per order, how many timeline entries were looked at (``seen``) at
  which order ``version``; and the sweep's watermark (``_id`` ``~watermark``). A consumer of the
  timeline of its own, beside the webhook relay's (documents/webhooks.py), whose order reads
  (by ``updated_at``) it shares.
"""
from __future__ import annotations

from datetime import datetime

import mongoengine as me
from pymongo import ASCENDING
from pymongo.errors import BulkWriteError

from documents import orders
from documents.codec import from_bson, to_bson
from documents.connection import only_duplicates
from documents.leased_attempts import LeasedAttempts
from documents.timeline_cursors import TimelineCursors
from router.notifications import FAILED, PENDING, SENT



class Notification(me.DynamicDocument):
    id = me.StringField(primary_key=True)
    meta = {"collection": "notifications",
            "indexes": [{"fields": ["status", "next_at"]}, {"fields": ["order_id"]}]}


class NotificationCursor(me.DynamicDocument):
    id = me.StringField(primary_key=True)
    meta = {"collection": "notification_cursors"}


DOCUMENTS = (Notification, NotificationCursor)


def _notes():
    return Notification._get_collection()


def _cursors():
    return NotificationCursor._get_collection()


# --- the sweep's cursors ------------------------------------------------------------------------

_feed = TimelineCursors(_cursors)
cursors, advance_cursor, reset_watermark = _feed.cursors, _feed.advance_cursor, _feed.reset_watermark


def watermark() -> tuple[datetime, datetime] | None:
    """``(at, started_at)``: orders updated since ``at`` (less a slack) are looked at; timeline
    entries from before ``started_at`` (the first sweep with e-mail on) notify nobody."""
    found = _feed.watermark()
    return (found["at"], found.get("started_at") or found["at"]) if found else None


def set_watermark(at: datetime) -> None:
    """Move the watermark forward; the first one also says when notifications started."""
    _feed.set_watermark(at, on_insert={"started_at": at})


def order_for_notices(order_id: str) -> dict | None:
    """What an order's notifications need: its timeline, version, customer, channel, merchants,
    currency and fulfilments' waybills."""
    found = orders.collection().find_one({"_id": order_id}, {
        "timeline": 1, "version": 1, "channel": 1, "channel_order_id": 1, "customer": 1, "merchant_ids": 1,
        "amounts.currency": 1, "fulfilments.id": 1, "fulfilments.carrier_id": 1, "fulfilments.tracking_number": 1})
    return from_bson(found) if found else None


# --- notifications ------------------------------------------------------------------------------

def add(docs: list[dict]) -> list[str]:
    """Insert notifications, skipping those already there (same id). Returns the new ids."""
    if not docs:
        return []
    try:
        _notes().insert_many(to_bson(docs), ordered=False)
        return [d["_id"] for d in docs]
    except BulkWriteError as exc:
        if not only_duplicates(exc):
            raise
        refused = {docs[e["index"]]["_id"] for e in exc.details.get("writeErrors", [])}
        return [d["_id"] for d in docs if d["_id"] not in refused]


def get(notification_id: str) -> dict | None:
    found = _notes().find_one({"_id": notification_id})
    return from_bson(found) if found else None


_attempts = LeasedAttempts(_notes, pending=PENDING, done=SENT, failed=FAILED, done_at="sent_at")
claim = _attempts.claim
mark_sent = _attempts.mark_done
mark_failed_attempt = _attempts.mark_failed_attempt

def due(now: datetime, limit: int) -> list[str]:
    """Pending notifications due by ``now``: never tried, retrying, or whose attempt's lease ran out."""
    return [d["_id"] for d in _notes().find({"status": PENDING, "next_at": {"$lte": now}}, {"_id": 1}).limit(limit)]


def of_order(order_id: str) -> list[dict]:
    """An order's notifications, oldest first (bodies left out)."""
    return [from_bson(d) for d in _notes().find({"order_id": order_id}, {"body": 0}).sort("created_at", ASCENDING)]
