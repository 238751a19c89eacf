"""Outgoing sends tried with a lease (webhook deliveries, customer e-mails): one claimer takes each
attempt, a claimer that dies leaves it to the next once its lease runs out, and the newest
attempts' outcomes are kept on the document. One shape for both collections."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

ATTEMPTS_KEPT = 20  # the newest attempts' outcomes kept on a document


class LeasedAttempts:
    """The attempt bookkeeping of the collection ``collection()`` returns (looked up per call:
    tests switch databases); ``done`` and ``done_at``: the status and time field of a success."""

    def __init__(self, collection: Callable, pending: str, done: str, failed: str, done_at: str):
        self.collection, self.pending, self.done, self.failed, self.done_at = collection, pending, done, failed, done_at

    def claim(self, doc_id: str, attempts: int, now: datetime, lease_until: datetime) -> bool:
        """Take attempt ``attempts + 1``: only one claimer wins; the lease (``next_at``) lets another
        try after it if this one dies mid-way."""
        return self.collection().update_one(
            {"_id": doc_id, "status": self.pending, "attempts": attempts, "next_at": {"$lte": now}},
            {"$set": {"next_at": lease_until, "last_attempt_at": now}, "$inc": {"attempts": 1},
             "$min": {"first_attempt_at": now}}).modified_count == 1

    def mark_done(self, doc_id: str, now: datetime, outcome: dict) -> None:
        self.collection().update_one(
            {"_id": doc_id, "status": self.pending},
            {"$set": {"status": self.done, self.done_at: now, "next_at": None, "error": None},
             "$push": {"log": {"$each": [outcome], "$slice": -ATTEMPTS_KEPT}}})

    def mark_failed_attempt(self, doc_id: str, attempts: int, outcome: dict, retry_at: datetime | None) -> None:
        """Record a failed attempt (number ``attempts``): retried at ``retry_at``, or failed for good
        (None). A stale report (another attempt started since) changes nothing but the log."""
        push = {"log": {"$each": [outcome], "$slice": -ATTEMPTS_KEPT}}
        fields = {"error": outcome.get("error"),
                  **({"next_at": retry_at} if retry_at else {"status": self.failed, "next_at": None})}
        if self.collection().update_one({"_id": doc_id, "status": self.pending, "attempts": attempts},
                                        {"$set": fields, "$push": push}).modified_count:
            return
        self.collection().update_one({"_id": doc_id}, {"$push": push})
