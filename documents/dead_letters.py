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


def orders_held(order_ids: list[str]) -> set[str]:
    """Those of ``order_ids`` with a dead letter not replayed yet: the sweeps leave them alone until
    an operator replays it, so a message that fails for good is dead-lettered once, not once per
    sweep."""
    if not order_ids:
        return set()
    found = DeadLetter._get_collection().find({"order_id": {"$in": list(order_ids)}, "replayed_at": None},
                                              {"order_id": 1})
    return {d["order_id"] for d in found}


def messages_held(first_args: list[str]) -> set[str]:
    """Those of ``first_args`` (an inbox event's key, the first argument of its actor's message)
    whose message is a dead letter not replayed yet."""
    if not first_args:
        return set()
    found = DeadLetter._get_collection().find({"args.0": {"$in": list(first_args)}, "replayed_at": None},
                                              {"args": {"$slice": 1}})
    return {d["args"][0] for d in found if d.get("args")}
