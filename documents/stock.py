"""Stock per SKU and warehouse, with holds keyed by order line inside the same document.

Reserve, release and ship are each one conditional update, so each is applied at most once
however often a message is replayed: the hold key's presence is the guard. ``available`` is
stored (for indexed low-stock queries) and kept equal to ``on_hand - reserved`` by every update.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import mongoengine as me

from documents.connection import DUPLICATE_KEY
from router import invariants


class StockDocument(me.DynamicDocument):
    id = me.StringField(primary_key=True)  # "<sku>@<warehouse>"
    sku = me.StringField(required=True)
    warehouse_id = me.StringField(required=True)
    on_hand = me.IntField(default=0)
    reserved = me.IntField(default=0)
    available = me.IntField(default=0)
    safety_stock = me.IntField(default=0)
    low_stock_threshold = me.IntField(default=5)
    holds = me.DictField()

    meta = {
        "collection": "stock",
        "indexes": [
            {"fields": ["sku", "warehouse_id"], "unique": True},
            {"fields": ["warehouse_id", "sku"]},
            {"fields": ["available"]},
        ],
    }


DOCUMENTS = (StockDocument,)


class InsufficientStock(Exception):
    """Not enough available stock to place a hold."""


def stock_id(sku: str, warehouse_id: str) -> str:
    return f"{sku}@{warehouse_id}"


def hold_key(order_id: str, line_no: int, tag: str | None = None) -> str:
    """Holds are keyed by order line; a warehouse's stock document holds at most one per key. A
    fulfilment planned after the first routing (a backorder retry, a re-route) carries a ``tag``
    (``<order_id>~<line_no>~<tag>``): its units may go to a warehouse that already holds earlier
    units of the same line (router/invariants.py reads the same format)."""
    key = invariants.hold_key(order_id, line_no, tag)
    if "." in key or "$" in key:
        raise ValueError(f"hold key may not contain '.' or '$': {key!r}")
    return key


def collection():
    return StockDocument._get_collection()


def snapshot(skus: list[str], hold_keys: Sequence[str] = ()) -> list[dict]:
    """Stock rows for ``skus`` in every warehouse, with only the named holds projected."""
    projection = {"sku": 1, "warehouse_id": 1, "on_hand": 1, "reserved": 1, "safety_stock": 1,
                  "low_stock_threshold": 1, "available": 1}
    for key in hold_keys:
        projection[f"holds.{key}"] = 1
    return list(collection().find({"sku": {"$in": list(skus)}}, projection))


def _hold(sku: str, warehouse_id: str, key: str, quantity: int) -> tuple[dict, dict]:
    """The guarded update that holds ``quantity`` units for ``key``: (filter, update)."""
    return ({"_id": stock_id(sku, warehouse_id), "available": {"$gte": quantity}, f"holds.{key}": {"$exists": False}},
            {"$inc": {"available": -quantity, "reserved": quantity}, "$set": {f"holds.{key}": quantity}})


def reserve(sku: str, warehouse_id: str, key: str, quantity: int) -> bool:
    """Hold ``quantity`` units for ``key``. False when stock is short or the key already holds."""
    return collection().update_one(*_hold(sku, warehouse_id, key, quantity)).modified_count == 1


def reserve_all(holds: Sequence[tuple[str, str, str, int]]) -> int:
    """Place holds ``(sku, warehouse_id, key, quantity)`` in order, in one round trip, stopping at
    the first that :func:`reserve` would refuse (stock short, or the key holds already). Returns
    how many were placed: the first ones. Each is ``reserve``'s guarded update made an upsert, so
    a guard that fails stops the ordered batch with a duplicate key on the level's ``_id``; the
    levels must exist (a plan places holds only on levels it read, and none is ever deleted)."""
    from pymongo import UpdateOne
    from pymongo.errors import BulkWriteError

    if not holds:
        return 0
    ops = [UpdateOne(*_hold(*hold), upsert=True) for hold in holds]
    try:
        collection().bulk_write(ops, ordered=True)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors") or []
        if len(errors) == 1 and errors[0].get("code") == DUPLICATE_KEY:
            return errors[0]["index"]
        raise
    return len(ops)


def release(sku: str, warehouse_id: str, key: str, quantity: int) -> bool:
    """Give back the hold ``key`` (of exactly ``quantity``). False when there is no such hold."""
    result = collection().update_one(
        {"_id": stock_id(sku, warehouse_id), f"holds.{key}": quantity},
        {"$inc": {"available": quantity, "reserved": -quantity}, "$unset": {f"holds.{key}": ""}},
    )
    return result.modified_count == 1


def ship_down_to(sku: str, warehouse_id: str, key: str, full: int, target: int, attempts: int = 5) -> int:
    """Some of the units held under ``key`` left the warehouse (a partial confirmation), or all
    (``target`` 0): on hand and reserved drop by what the hold has above ``target``, and the hold
    keeps ``target`` (goes when 0); available is unchanged. ``full``, the line's whole quantity, is what the hold has
    while nothing of it shipped: that common case is one update with no read. Converges, so a
    replayed or repeated confirmation ships nothing twice; each step is guarded on the hold
    read. Returns how many units shipped now."""
    held: int | None = full
    for _ in range(attempts):
        if held is None or held <= target:
            return 0
        if collection().update_one(*_ship(sku, warehouse_id, key, held, target)).modified_count == 1:
            return held - target
        found = collection().find_one({"_id": stock_id(sku, warehouse_id)}, {f"holds.{key}": 1}) or {}
        held = (found.get("holds") or {}).get(key)
    return 0


def _ship(sku: str, warehouse_id: str, key: str, held: int, target: int) -> tuple[dict, dict]:
    """The update that ships a hold at ``held`` down to ``target``, guarded on it: (filter, update)."""
    left = {"$set": {f"holds.{key}": target}} if target else {"$unset": {f"holds.{key}": ""}}
    return ({"_id": stock_id(sku, warehouse_id), f"holds.{key}": held},
            {"$inc": {"on_hand": target - held, "reserved": target - held}, **left})


def ship_all(lines: Sequence[tuple[str, str, str, int, int]], landed: Sequence[bool] | None = None) -> None:
    """:func:`ship_down_to` for several lines ``(sku, warehouse_id, key, full, target)``: the
    common case (no line shipped any of its units yet) in one round trip, each guarded on its hold
    being ``full``; when any of them did not land, every line converges on its own (one the batch
    shipped finds its hold at ``target`` and ships nothing more). ``landed``: those updates were
    written already (in the order's own round trip, see :func:`ship_writes`), and whether each
    landed; the others converge."""
    from pymongo import UpdateOne

    moving = [line for line in lines if line[3] > line[4]]
    if not moving:
        return
    if landed is None:
        ops = [UpdateOne(*_ship(*line)) for line in moving]
        if collection().bulk_write(ops, ordered=False).modified_count == len(ops):
            return
        landed = [False] * len(moving)
    for (sku, wh, key, full, target), done in zip(moving, landed, strict=True):
        if not done:
            ship_down_to(sku, wh, key, full, target)


def ship_writes(lines: Sequence[tuple[str, str, str, int, int]]) -> list[tuple[str, dict, dict]]:
    """The guarded updates :func:`ship_all` makes first, as ``(namespace, filter, update)``, for
    another round trip to carry (``documents.orders.Then``); then :func:`ship_all` with what landed."""
    return [(collection().full_name, *_ship(*line)) for line in lines if line[3] > line[4]]


def adjust(sku: str, warehouse_id: str, delta: int) -> dict | None:
    """Inbound (+) or outbound (-) on hand; an outbound may not take available below zero."""
    filter_: dict = {"_id": stock_id(sku, warehouse_id)}
    if delta < 0:
        filter_["available"] = {"$gte": -delta}
    return collection().find_one_and_update(filter_, {"$inc": {"on_hand": delta, "available": delta},
                                                      "$set": {"updated_at": datetime.now(timezone.utc)}},
                                            return_document=True)


def apply_adjustment(sku: str, warehouse_id: str, kind: str, quantity: int, reason: str = "",
                     actor: str = "system") -> dict:
    """Inbound (+quantity), outbound (-quantity) or stocktake (on hand := quantity), with a ledger
    entry. Raises LookupError for an unknown level, InsufficientStock when an outbound or a
    stocktake would take available below zero (held units cannot be counted away)."""
    coll = collection()
    current = coll.find_one({"_id": stock_id(sku, warehouse_id)}, {"on_hand": 1, "reserved": 1})
    if current is None:
        raise LookupError(f"no stock level for {sku} in {warehouse_id}")
    delta = {"inbound": quantity, "outbound": -quantity, "stocktake": quantity - current["on_hand"]}[kind]
    filter_: dict = {"_id": stock_id(sku, warehouse_id)}
    if kind == "stocktake":
        filter_["on_hand"] = current["on_hand"]  # guard: nothing moved since we read it
        if quantity < current["reserved"]:
            raise InsufficientStock(f"{sku}@{warehouse_id}: {current['reserved']} units are held for orders")
    elif delta < 0:
        filter_["available"] = {"$gte": -delta}
    entry = {"at": datetime.now(timezone.utc), "kind": kind, "quantity": quantity, "delta": delta,
             "reason": reason, "actor": actor}
    result = coll.update_one(filter_, {"$inc": {"on_hand": delta, "available": delta},
                                       "$push": {"ledger": {"$each": [entry], "$slice": -200}},
                                       "$set": {"updated_at": entry["at"]}})
    if result.modified_count != 1:
        raise InsufficientStock(f"{sku}@{warehouse_id}: not enough available stock (or it changed: retry)")
    return coll.find_one({"_id": stock_id(sku, warehouse_id)})


def restock(sku: str, warehouse_id: str, key: str, quantity: int) -> bool:
    """Returned goods back on the shelf, once per ``key`` (an after-sales case and line)."""
    result = collection().update_one(
        {"_id": stock_id(sku, warehouse_id), f"receipts.{key}": {"$exists": False}},
        {"$inc": {"on_hand": quantity, "available": quantity}, "$set": {f"receipts.{key}": quantity}})
    return result.modified_count == 1


def upsert_level(sku: str, warehouse_id: str, on_hand: int, safety_stock: int = 0,
                 low_stock_threshold: int = 5) -> None:
    """Seed or stocktake: set on hand, keeping existing holds (available = on hand - reserved)."""
    doc = collection().find_one({"_id": stock_id(sku, warehouse_id)}, {"reserved": 1}) or {}
    reserved = doc.get("reserved", 0)
    collection().update_one(
        {"_id": stock_id(sku, warehouse_id)},
        {"$set": {"sku": sku, "warehouse_id": warehouse_id, "on_hand": on_hand, "available": on_hand - reserved,
                  "safety_stock": safety_stock, "low_stock_threshold": low_stock_threshold,
                  "updated_at": datetime.now(timezone.utc)},
         "$setOnInsert": {"reserved": 0, "holds": {}}},
        upsert=True,
    )


def levels(sku: str | None = None, warehouse_id: str | None = None, limit: int = 1000) -> list[dict]:
    filter_: dict = {}
    if sku:
        filter_["sku"] = sku
    if warehouse_id:
        filter_["warehouse_id"] = warehouse_id
    return list(collection().find(filter_).sort([("sku", 1), ("warehouse_id", 1)]).limit(limit))


def available_by_sku(skus: Sequence[str]) -> dict[str, int]:
    """Units available per SKU, summed over every warehouse."""
    totals: dict[str, int] = {}
    for row in collection().find({"sku": {"$in": list(skus)}}, {"sku": 1, "available": 1}):
        totals[row["sku"]] = totals.get(row["sku"], 0) + int(row.get("available") or 0)
    return totals

