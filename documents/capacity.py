"""How many fulfilments each warehouse took on per day, against its ``daily_capacity``.

One counter document per warehouse and day (``<warehouse_id>@<YYYY-MM-DD>``, the UTC day): its
``count`` and the fulfilments it counts (``fulfilments.<fulfilment id>``). A fulfilment is
counted when routing reserves its stock, with one guarded ``$inc`` (the count below the capacity
and that fulfilment not counted yet), and released when it is cancelled before shipping, with one
guarded decrement (only if it is counted there), so the count never goes negative and counting
or releasing twice changes nothing. Only warehouses with a ``daily_capacity`` are counted.
Counters expire a few days after their day: only today's is ever read by routing.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone

import mongoengine as me
from pymongo.errors import DuplicateKeyError

KEEP = timedelta(days=3)
COUNTED, ALREADY, FULL = "counted", "already", "full"  # what :func:`take` did


class CapacityCounter(me.DynamicDocument):
    id = me.StringField(primary_key=True)  # "<warehouse_id>@<YYYY-MM-DD>"
    warehouse_id = me.StringField(required=True)
    day = me.StringField(required=True)
    count = me.IntField(default=0)
    fulfilments = me.DictField()  # fulfilment id -> True, for every fulfilment counted

    meta = {"collection": "warehouse_capacity",
            "indexes": [{"fields": ["expire_at"], "expireAfterSeconds": 0}]}


DOCUMENTS = (CapacityCounter,)


def collection():
    return CapacityCounter._get_collection()


def day_of(now: datetime) -> str:
    """The counting day of ``now``: its UTC date, ``YYYY-MM-DD``."""
    return now.astimezone(timezone.utc).date().isoformat()


def counter_id(warehouse_id: str, day: str) -> str:
    return f"{warehouse_id}@{day}"


def counts(warehouse_ids: Iterable[str], day: str) -> dict[str, int]:
    """``{warehouse_id: fulfilments counted on day}`` (warehouses with none counted left out)."""
    ids = [counter_id(w, day) for w in warehouse_ids]
    if not ids:
        return {}
    return {d["warehouse_id"]: d.get("count", 0)
            for d in collection().find({"_id": {"$in": ids}}, {"warehouse_id": 1, "count": 1})}


def take(warehouse_id: str, day: str, fulfilment_id: str, limit: int) -> str:
    """Count ``fulfilment_id`` against the warehouse's ``limit`` for ``day``: ``COUNTED`` now,
    ``ALREADY`` counted before (a replay), or ``FULL``."""
    cid = counter_id(warehouse_id, day)
    guard = {"_id": cid, "count": {"$lt": limit}, f"fulfilments.{fulfilment_id}": {"$exists": False}}
    expire = datetime.combine(date.fromisoformat(day), time(), timezone.utc) + timedelta(days=1) + KEEP
    update = {"$inc": {"count": 1}, "$set": {f"fulfilments.{fulfilment_id}": True},
              "$setOnInsert": {"warehouse_id": warehouse_id, "day": day, "expire_at": expire}}
    try:
        collection().update_one(guard, update, upsert=True)  # counted, or the day's first
        return COUNTED
    except DuplicateKeyError:  # the day's counter exists (maybe just made by another routing): full or ours
        if collection().update_one(guard, {k: v for k, v in update.items() if k != "$setOnInsert"}).modified_count:
            return COUNTED
    mine = collection().find_one({"_id": cid, f"fulfilments.{fulfilment_id}": {"$exists": True}}, {"_id": 1})
    return ALREADY if mine is not None else FULL


def release(warehouse_id: str, fulfilment_id: str, now: datetime) -> int:
    """Give back what ``fulfilment_id`` took of the warehouse's capacity (on the day it was
    counted, today or yesterday: an older day no longer matters). Returns how many counters
    gave it back (0 when it was not counted, or was released before)."""
    today = now.astimezone(timezone.utc).date()
    ids = [counter_id(warehouse_id, (today - timedelta(days=d)).isoformat()) for d in (0, 1)]
    result = collection().update_many(
        {"_id": {"$in": ids}, f"fulfilments.{fulfilment_id}": {"$exists": True}, "count": {"$gt": 0}},
        {"$inc": {"count": -1}, "$unset": {f"fulfilments.{fulfilment_id}": ""}})
    return result.modified_count


def rows() -> list[dict]:
    """Every counter, for the invariant checker."""
    return list(collection().find({}, {"warehouse_id": 1, "day": 1, "count": 1, "fulfilments": 1}))
