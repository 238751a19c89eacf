"""Dead letters: messages that failed for good, recorded where operators can list and replay them."""
from __future__ import annotations

from datetime import datetime, timezone

import mongoengine as me

from documents.codec import from_bson, to_bson


class DeadLetter(me.DynamicDocument):
    id = me.StringField(primary_key=True)  # the Dramatiq message id
    meta = {"collection": "dead_letters", "indexes": [{"fields": ["replayed_at", "-failed_at"]},
                                                       {"fields": ["order_id"]}]}


DOCUMENTS = (DeadLetter,)


def record(message_id: str, queue: str, actor: str, args: list, kwargs: dict, error: str,
           order_id: str | None, options: dict, *, recovered_from: str | None = None) -> bool:
    """Record (or, on a message failing again after a replay, re-open) a dead letter; returns
    whether it was new. With ``recovered_from`` (copied from a broker dead-letter queue) a letter
    already known is left exactly as it is: it may have been replayed meanwhile."""
    fields = to_bson({"queue": queue, "actor": actor, "args": args, "kwargs": kwargs, "error": error,
                      "order_id": order_id, "options": options, "failed_at": datetime.now(timezone.utc),
                      "replayed_at": None})
    if recovered_from is None:
        update = {"$set": fields}
    else:
        update = {"$setOnInsert": {**fields, "recovered_from": recovered_from}}
    result = DeadLetter._get_collection().update_one({"_id": message_id}, update, upsert=True)
    return result.upserted_id is not None


def pending(limit: int = 100) -> list[dict]:
    return [from_bson(d) for d in DeadLetter._get_collection().find({"replayed_at": None})
            .sort("failed_at", -1).limit(limit)]


def get(message_id: str) -> dict | None:
    raw = DeadLetter._get_collection().find_one({"_id": message_id})
    return from_bson(raw) if raw else None


def mark_replayed(message_id: str) -> bool:
    result = DeadLetter._get_collection().update_one(
        {"_id": message_id, "replayed_at": None}, {"$set": {"replayed_at": datetime.now(timezone.utc)}})
    return result.modified_count == 1
