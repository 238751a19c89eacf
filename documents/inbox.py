"""The inbox: events from outside that were not applied to an order, and the entries of the
reconciler's older path.

An event that is applied leaves its record on the order itself (a payment in ``payments``, a WMS
or carrier event id in its fulfilment's tracking history), written by the same guarded update that
applies it; the broker held it until then (services/intake.accept_event). What lands here is what
a person may have to look at: an event word the router does not know (``record`` then
``mark_processed`` "flagged"), an event the order's state refused, or one for no known order
(:func:`note`), each under ``<kind>:<source>:<external key>``, so a redelivery keeps one entry.

Entries left unprocessed (from before events rode the broker, or written by :func:`record` and
not closed) are settled by the reconciler: it closes those their orders record and re-sends the
rest (services/sweeps.settle_inbox). Unprocessed therefore means "not yet known applied", never
"applied"."""
from __future__ import annotations

import contextlib
from datetime import datetime, timezone

import mongoengine as me
from pymongo.errors import DuplicateKeyError

from documents.codec import from_bson, to_bson
from documents.group_insert import GroupInsert


class InboxEvent(me.DynamicDocument):
    id = me.StringField(primary_key=True)  # "<kind>:<source>:<external key>"
    kind = me.StringField(required=True)
    meta = {"collection": "inbox", "indexes": [{"fields": ["processed", "received_at"]}]}


DOCUMENTS = (InboxEvent,)
_inserts = GroupInsert(lambda: InboxEvent._get_collection())  # concurrent webhooks share one insert_many


def key(kind: str, source: str, external_key: str) -> str:
    return f"{kind}:{source}:{external_key}"


def note(event_key: str, event: dict, outcome: str) -> None:
    """Keep an event that was not applied (``outcome``: why), closed; an entry already there is
    closed with it unless it was closed before (the first outcome stays)."""
    now = datetime.now(timezone.utc)
    kind, source, _ = event_key.split(":", 2)
    with contextlib.suppress(DuplicateKeyError):  # closed before: its first outcome stays
        InboxEvent._get_collection().update_one(
            {"_id": event_key, "processed": False},
            {"$set": {"processed": True, "outcome": outcome, "processed_at": now},
             "$setOnInsert": to_bson({"kind": kind, "source": event.get("source", source), "order_id": event.get("order_id"),
                                      "payload": event.get("payload"), "received_at": now})},
            upsert=True)


def record(kind: str, source: str, external_key: str, payload: dict, order_id: str | None = None) -> tuple[str, bool]:
    """Store an inbound event. Returns ``(event_key, created)``; ``created`` is False for a replay."""
    event_key = key(kind, source, external_key)
    doc = {"_id": event_key, "kind": kind, "source": source, "payload": payload, "order_id": order_id,
           "processed": False, "received_at": datetime.now(timezone.utc)}
    try:
        _inserts.insert(to_bson(doc))
        return event_key, True
    except DuplicateKeyError:
        return event_key, False


def load(event_key: str) -> dict | None:
    raw = InboxEvent._get_collection().find_one({"_id": event_key})
    return from_bson(raw) if raw else None


def mark_processed(event_key: str, outcome: str = "applied") -> None:
    """Close the entry; the first outcome recorded stays."""
    InboxEvent._get_collection().update_one(
        {"_id": event_key, "processed": False},
        {"$set": {"processed": True, "outcome": outcome, "processed_at": datetime.now(timezone.utc)}})


# Entries per update of the reconciler's closes: a short command on any server (on the embedded
# server the cost per entry doubled with an $in of 500: bench/dbops.py).
CLOSE_CHUNK = 100


def close(event_keys: list[str], outcome: str = "applied") -> None:
    """Close many entries (the reconciler, for events their orders already record), up to
    ``CLOSE_CHUNK`` per update."""
    keys, now = list(event_keys), datetime.now(timezone.utc)
    for start in range(0, len(keys), CLOSE_CHUNK):
        InboxEvent._get_collection().update_many(
            {"_id": {"$in": keys[start:start + CLOSE_CHUNK]}, "processed": False},
            {"$set": {"processed": True, "outcome": outcome, "processed_at": now}})


def unprocessed_before(cutoff: datetime, limit: int = 500) -> list[dict]:
    """Events received before ``cutoff`` and still unprocessed, not re-sent since ``cutoff``."""
    query = {"processed": False, "received_at": {"$lt": cutoff},
             "resent_at": {"$not": {"$gte": cutoff}}}  # no top-level $or: see actors/sweeps.reconcile
    return [from_bson(d) for d in InboxEvent._get_collection().find(query).limit(limit)]


def stamp_resent(event_keys: list[str], at: datetime) -> None:
    if event_keys:
        InboxEvent._get_collection().update_many({"_id": {"$in": list(event_keys)}}, {"$set": {"resent_at": at}})
