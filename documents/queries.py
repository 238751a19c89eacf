"""Order queries for the API and console: filters on indexed fields, keyset (cursor) pages."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from bson.decimal128 import Decimal128

from documents.codec import from_bson
from documents.orders import LIST_FILTER_FIELDS, collection, list_index_name

# filter name -> stored field; every value is a plain string matched for equality
EQUALITY = {"status": "status", "payment_status": "payment_status", "shipment_status": "shipment_status",
            "after_sales_status": "after_sales_status", "channel": "channel", "merchant": "merchant_ids",
            "warehouse": "warehouse_ids", "customer": "customer.id", "sku": "skus",
            "channel_order_id": "channel_order_id"}
FILTER_OF = {path: name for name, path in EQUALITY.items()}  # stored field -> query parameter
LIST_PROJECTION = {"timeline": 0, "raw": 0, "routing.decision": 0, "line_amounts": 0}


class BadCursor(ValueError):
    pass


def order_filter(filters: dict) -> dict:
    """Build a MongoDB filter from validated query values (strings, datetimes, Decimals only)."""
    query: dict = {}
    for name, path in EQUALITY.items():
        value = filters.get(name)
        if value is not None:
            query[path] = str(value)
    placed = {}
    if filters.get("placed_from") is not None:
        placed["$gte"] = filters["placed_from"]
    if filters.get("placed_to") is not None:
        placed["$lt"] = filters["placed_to"]
    if placed:
        query["placed_at"] = placed
    amount = {}
    if filters.get("min_amount") is not None:
        amount["$gte"] = Decimal128(Decimal(filters["min_amount"]))
    if filters.get("max_amount") is not None:
        amount["$lte"] = Decimal128(Decimal(filters["max_amount"]))
    if amount:
        query["payable"] = amount
    return query


def encode_cursor(doc: dict) -> str:
    raw = json.dumps([doc["placed_at"].isoformat(), doc["_id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        placed, oid = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(placed), str(oid)
    except (ValueError, TypeError) as exc:
        raise BadCursor("cursor is not one this API gave out") from exc


# Windows a list looks back through, widening only when a page comes up short: the embedded
# server reads every index match before applying a limit (30,000 examined for 51 returned), so
# an unbounded "newest first" costs seconds at 100,000 orders; a real mongod stops early anyway.
WINDOWS = (timedelta(days=2), timedelta(days=16), timedelta(days=128), None)


def list_orders(filters: dict, limit: int = 50, cursor: str | None = None,
                now: datetime | None = None) -> tuple[list[dict], str | None]:
    """Newest first. Returns ``(orders, next_cursor)``; next_cursor is None on the last page."""
    query = order_filter(filters)
    anchor = (now or datetime.now(timezone.utc)) + timedelta(days=1)
    if cursor:
        placed, oid = decode_cursor(cursor)
        page = {"$or": [{"placed_at": {"$lt": placed}}, {"placed_at": placed, "_id": {"$lt": oid}}]}
        query = {"$and": [query, page]} if query else page
        anchor = placed
    for window in WINDOWS:
        bounded = {"$and": [query, {"placed_at": {"$gte": anchor - window}}]} if window else query
        found = collection().find(bounded, LIST_PROJECTION).sort([("placed_at", -1), ("_id", -1)])
        docs = [from_bson(d) for d in found.limit(limit + 1).hint(_index_for(filters))]
        if len(docs) > limit:
            break
    more = len(docs) > limit
    docs = docs[:limit]
    return docs, (encode_cursor(docs[-1]) if more and docs else None)


def _index_for(filters: dict) -> str:
    """The index to walk for a list, newest first: the most selective equality filter's list index
    (see documents/orders.py), else (placed_at, _id). Named explicitly because the embedded
    server's planner chose a collection scan or the unique channel index and sorted in memory."""
    if filters.get("channel_order_id") is not None:
        return "channel_order_id_1"
    for field in LIST_FILTER_FIELDS:
        if field and filters.get(FILTER_OF[field]) is not None:
            return list_index_name(field)
    return list_index_name(None)


def count_by_status(filters: dict) -> dict[str, int]:
    query = order_filter({k: v for k, v in filters.items() if k != "status"})
    pipeline = ([{"$match": query}] if query else []) + [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
    return {row["_id"]: row["n"] for row in collection().aggregate(pipeline)}
