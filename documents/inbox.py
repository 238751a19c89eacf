"""The inbox: every event from outside (payment, WMS, carrier, channel webhook) is stored under a
unique key before it is acted on. A duplicate key means a replay: the effect happens once.

An entry stays unprocessed until someone knows its effect is recorded: the actor closes it once
the event is applied (its order's own guarded update records it) or refused; if the actor died in
between, the reconciler closes in batches the entries their orders record and re-sends the rest
(see actors/sweeps.py). Unprocessed therefore means "not yet known applied", never "applied".
(Leaving every applied entry to the reconciler saved one update per event, but grew a backlog of
unprocessed entries that every sweep reads through: in the 5,000-order chaos run, on the embedded
server, which reads every index match before a limit, each sweep read thousands of them and the
database fell behind.)"""
from __future__ import annotations

import threading
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


def record(kind: str, source: str, key: str, payload: dict, order_id: str | None = None) -> tuple[str, bool]:
    """Store an inbound event. Returns ``(event_key, created)``; ``created`` is False for a replay."""
    event_key = f"{kind}:{source}:{key}"
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


class _GroupClose:
    """Group commit of closes, as :class:`documents.group_insert.GroupInsert` does inserts: the
    first caller with no close in flight writes at once (alone, as ``update_one`` did), callers
    arriving meanwhile queue and the next of them closes all that queued in one ``update_many``;
    each returns once its own entry's close is written (or raises what the write raised), so a
    close is as done on return as before. Actors close an entry at the end of every event, from
    several threads at once."""

    def __init__(self, max_batch: int):
        self.max_batch, self.cond = max_batch, threading.Condition()
        self.pending: list[list] = []  # [event_key, done, error]
        self.writing = False

    def close(self, event_key: str) -> None:
        slot: list = [event_key, False, None]
        with self.cond:
            self.pending.append(slot)
        while True:
            with self.cond:
                while not slot[1] and self.writing:
                    self.cond.wait()
                if slot[1]:
                    break
                self.writing = True
                batch, self.pending = self.pending[:self.max_batch], self.pending[self.max_batch:]
            try:
                keys = [s[0] for s in batch]
                InboxEvent._get_collection().update_many(
                    {"_id": {"$in": keys} if len(keys) > 1 else keys[0], "processed": False},
                    {"$set": {"processed": True, "outcome": "applied", "processed_at": datetime.now(timezone.utc)}})
            except BaseException as exc:  # noqa: BLE001 (handed to every caller, who raises it)
                for s in batch:
                    s[2] = exc
            finally:
                with self.cond:
                    for s in batch:
                        s[1] = True
                    self.writing = False
                    self.cond.notify_all()
        if slot[2] is not None:
            raise slot[2]


def mark_processed(event_key: str, outcome: str = "applied") -> None:
    """Close the entry; the first outcome recorded stays. Plain closes made at the same moment by
    several threads share one update (:class:`_GroupClose`)."""
    if outcome == "applied":
        _closes.close(event_key)
        return
    InboxEvent._get_collection().update_one(
        {"_id": event_key, "processed": False}, {"$set": {"processed": True, "outcome": outcome, "processed_at": datetime.now(timezone.utc)}})


# Entries per update: a short command on any server (on the embedded server the cost per entry
# doubled with an $in of 500: bench/dbops.py).
CLOSE_CHUNK = 100


_closes = _GroupClose(CLOSE_CHUNK)


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
