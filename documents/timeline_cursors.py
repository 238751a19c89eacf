"""Cursors over the orders' timelines, for a consumer that turns each order's new timeline entries
into something of its own (the webhook relay, documents/webhooks.py; customer e-mails,
documents/notifications.py), each in a collection of its own: per order, how many entries it
looked at (``seen``) at which order ``version``, and a watermark (``_id`` ``~watermark``): orders
updated since it (less a slack) are looked at again. The consumers share the orders' reads by
``updated_at`` (:func:`orders_changed_since`)."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from documents import orders

WATERMARK = "~watermark"


def orders_changed_since(since: datetime, limit: int) -> list[dict]:
    """Orders updated at or after ``since``, oldest change first: ``{_id, version, updated_at}``."""
    return list(orders.collection().find({"updated_at": {"$gte": since}}, {"_id": 1, "version": 1, "updated_at": 1})
                .sort("updated_at", ASCENDING).limit(limit))


class TimelineCursors:
    """One consumer's cursors and watermark, in the collection ``collection()`` gives."""

    def __init__(self, collection: Callable[[], Collection]):
        self.collection = collection

    def watermark(self) -> dict | None:
        """The watermark's document (``at``, and what its first write set), or None before any."""
        return self.collection().find_one({"_id": WATERMARK})

    def set_watermark(self, at: datetime, on_insert: dict | None = None) -> None:
        """Move the watermark forward (never back: concurrent sweeps); ``on_insert``: what the
        first write also sets."""
        extra = {"$setOnInsert": on_insert} if on_insert else {}
        try:
            self.collection().update_one({"_id": WATERMARK}, {"$max": {"at": at}, **extra}, upsert=True)
        except DuplicateKeyError:  # another sweep inserted it first
            self.collection().update_one({"_id": WATERMARK}, {"$max": {"at": at}})

    def reset_watermark(self) -> None:
        self.collection().delete_one({"_id": WATERMARK})

    def cursors(self, order_ids: list[str]) -> dict[str, dict]:
        if not order_ids:
            return {}
        return {d["_id"]: d for d in self.collection().find({"_id": {"$in": list(order_ids)}})}

    def advance_cursor(self, order_id: str, seen: int, version: int) -> None:
        """Record that the first ``seen`` timeline entries (at ``version``) were looked at; never
        moves back (a slower concurrent sweep)."""
        with contextlib.suppress(DuplicateKeyError):  # the cursor is already further on
            self.collection().update_one({"_id": order_id, "seen": {"$lte": seen}},
                                         {"$set": {"seen": seen, "version": version}}, upsert=True)
