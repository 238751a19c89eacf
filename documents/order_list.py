"""The order list's own collection: one slim row per order with only what the list shows and
filters on, kept in step by the code that saves orders (``documents/orders.py`` calls
:func:`sync` after an insert or a guarded change) and rebuilt from the orders by :func:`rebuild`.

Why a second collection: a list shows a few fields of many orders, and an order document
carries its raw channel payload, timeline, fulfilments and routing decision (about 7 KB). The
rows keep the list's indexes off the orders (every order update paid for them) and the list's
working set small, on any server. On the embedded server, which decodes the whole document for
every match of an index range, they are cheaper per read too (measured ~0.35 ms for a 7 KB order
against ~0.02 ms for a 0.4 KB row, projection or not). The row is derived, never the truth: a
row that lags (a crash between the order's write and the row's) is put right by the next change
of the order or by ``orderrouter rebuild-list`` (:func:`rebuild`).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import cast
from decimal import Decimal

import mongoengine as me
from bson.decimal128 import Decimal128
from pymongo.errors import DuplicateKeyError

from documents.codec import to_bson
from documents.connection import DUPLICATE_KEY, only_duplicates
from router.exceptions import list_flags

# Fields the order list filters on for equality, most selective first (None: no filter).
LIST_FILTER_FIELDS = ("channel_order_id", "customer.id", "skus", "flags", "warehouse_ids", "merchant_ids", "status",
                      "payment_status", "shipment_status", "after_sales_status", "channel", None)
# Filters met beside a status tab often enough to have (status, field, placed_at, _id) indexes too.
STATUS_PAIR_FIELDS = ("channel", "warehouse_ids", "merchant_ids")
# Order fields a row is made of (top-level names): a change that touches none of them leaves the row as it is.
SOURCE_FIELDS = frozenset({"channel", "channel_order_id", "placed_at", "status", "payment_status",
                           "shipment_status", "after_sales_status", "currency", "customer", "merchant_ids",
                           "warehouse_ids", "skus",
                           "payable", "amounts", "exceptions"})


ORDERS_COLLECTION = "orders"


def list_index_name(field: str | None) -> str:
    """The name MongoDB gives the list index for ``field`` (see the meta below)."""
    return f"{field}_1_placed_at_-1__id_-1" if field else "placed_at_-1__id_-1"


class OrderListRow(me.DynamicDocument):
    id = me.StringField(primary_key=True)

    meta = {
        "collection": "order_list",
        "indexes": [
            # newest first, keyset-paged on (placed_at, _id), one per equality filter
            *({"fields": [*([field] if field else []), "-placed_at", "-id"]} for field in LIST_FILTER_FIELDS),
            *({"fields": ["status", field, "-placed_at", "-id"]} for field in STATUS_PAIR_FIELDS),
            {"fields": ["payable", "-placed_at"]},
        ],
    }


DOCUMENTS = (OrderListRow,)


def collection():
    return OrderListRow._get_collection()


def row_of(order: dict) -> dict:
    """The list row of an order (a stored order dict, Decimals or Decimal128 alike)."""
    payable = order.get("payable")
    if payable is None:
        payable = (order.get("amounts") or {}).get("payable")
    if isinstance(payable, str):
        payable = Decimal(payable)
    if isinstance(payable, Decimal):
        payable = Decimal128(payable)
    row = {"_id": order["_id"], "version": order.get("version", 0),
           "customer": {"id": (order.get("customer") or {}).get("id"), "name": (order.get("customer") or {}).get("name")},
           "merchant_ids": list(order.get("merchant_ids") or []),
           "warehouse_ids": list(order.get("warehouse_ids") or []),
           "skus": list(order.get("skus") or []), "payable": payable,
           "flags": list_flags(order.get("exceptions"))}  # ["exception"] while an exception flag is open
    for key in ("channel", "channel_order_id", "placed_at", "status", "payment_status", "shipment_status",
                "after_sales_status", "currency"):
        row[key] = order.get(key)
    return row


def changed(before: dict | None, after: dict, paths) -> bool:
    """Whether a change of the order that touched ``paths`` (set or unset, dotted or not) may have
    altered its row. ``before`` is the order the change was decided on, or None when unknown (then
    any touched row field counts as a change)."""
    if not any(path.split(".", 1)[0] in SOURCE_FIELDS for path in paths):
        return False
    return before is None or {**row_of(before), "version": 0} != {**row_of(after), "version": 0}


def sync_change(before: dict | None, after: dict, paths) -> bool:
    """After a change of the order that touched ``paths`` (set or unset, dotted or not): write its
    row (:func:`sync`) if the change may have altered it. ``before`` is the order the change was
    decided on, or None when unknown (then any touched row field counts as a change)."""
    return changed(before, after, paths) and sync(after)


def sync_new(new_orders: list[dict]) -> int:
    """Write the rows of orders just inserted (BSON-ready), in one round trip. Returns how many."""
    return _write_rows([to_bson(row_of(o)) for o in new_orders])


def sync(order: dict) -> bool:
    """Write ``order``'s row unless a row of the same or a newer version is there: one update
    (an upsert guarded on ``version``). Returns whether the row was written."""
    row = to_bson(row_of(order))
    try:
        result = collection().update_one({"_id": row["_id"], "version": {"$lt": row["version"]}},
                                         {"$set": {k: v for k, v in row.items() if k != "_id"}}, upsert=True)
    except DuplicateKeyError:  # a row of this or a later version exists: a later change got there first
        return False
    return bool(result.modified_count or result.upserted_id is not None)


_NO_CLIENT_BULK_WRITE: set[int] = set()  # the clients (by id) connected to a server older than MongoDB 8.0


def with_order_update(orders, order_filter: dict, update: dict, after: dict, first: Sequence = (),
                      then: Sequence = (), then_landed: list | None = None) -> bool | None:
    """The order's guarded update and its row's write, in one round trip: MongoDB 8.0's client
    ``bulkWrite``, ordered, the order's update made an upsert, so that a guard (``order_filter``:
    its id and version) that no longer holds fails with a duplicate key on its ``_id`` and stops
    the batch before the row is touched. (Orders are never deleted, so the upsert never inserts
    one.) ``after`` is the order as the update leaves it. ``first``: upserts of other records the
    change rests on, as ``(namespace, filter, update)``, written before the order (a duplicate key
    there, another writer's upsert of the same record, goes on with the rest). ``then``: guarded
    updates of other records that follow from the change, ``(namespace, filter, update)``, written
    after the row, only once the order's update landed; ``then_landed`` receives, for each, whether
    it changed its record.

    Returns whether the order's update landed (its row is then written too, unless a row of the
    same or a newer version was there); None, having written nothing, when the server has no
    client bulkWrite (older than 8.0), for the caller to make the writes apart."""
    from pymongo import UpdateOne
    from pymongo.errors import ClientBulkWriteException, InvalidOperation

    client = orders.database.client
    if id(client) in _NO_CLIENT_BULK_WRITE:
        return None
    row = to_bson(row_of(after))
    ops = [*(UpdateOne(f, u, upsert=True, namespace=ns) for ns, f, u in first),
           UpdateOne(order_filter, update, upsert=True, namespace=orders.full_name),
           UpdateOne({"_id": row["_id"], "version": {"$lt": row["version"]}},
                     {"$set": {k: v for k, v in row.items() if k != "_id"}}, upsert=True,
                     namespace=collection().full_name),
           *(UpdateOne(f, u, namespace=ns) for ns, f, u in then)]
    guard_at, start = len(first), 0
    modified: dict[int, bool] = {}
    while start < len(ops):
        try:
            result = client.bulk_write(ops[start:], ordered=True, write_concern=orders.write_concern,
                                       verbose_results=bool(then))
            if then:
                modified.update({start + i: r.modified_count == 1 for i, r in result.update_results.items()})
            break
        except InvalidOperation as exc:  # pymongo's own check of the server's version, before sending
            if "8.0" not in str(exc):
                raise
            _NO_CLIENT_BULK_WRITE.add(id(client))
            return None
        except ClientBulkWriteException as exc:
            errors = cast(list[dict], exc.write_errors or [])  # documents at run time, whatever the stubs say
            if exc.error is not None or not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            at = start + int(errors[0].get("idx", 0))
            if at == guard_at:
                return False  # the order's guard failed: nothing after it was written
            start = at + 1  # a record already there, or a newer row: the rest goes on
    if then_landed is not None:
        then_landed[:] = [modified.get(i, False) for i in range(len(ops) - len(then), len(ops))]
    return True


REBUILD_STEP = timedelta(days=1)


def orders():
    """The orders collection, which the rebuild reads back (by name: documents.orders writes rows
    through this module, so importing it here would make a cycle)."""
    return collection().database[ORDERS_COLLECTION]


def rebuild(now: datetime | None = None) -> dict:
    """Make every row match its order again (the repair): write missing or differing rows, delete
    rows whose order is gone. Guarded like :func:`sync`, so a change that lands meanwhile is never
    overwritten by the older state read here. Returns ``{"written", "deleted", "orders"}``.

    Walks the orders a day of ``placed_at`` at a time, newest first, until it has seen as many
    as there are: each read is a bounded slice, so no one command holds the server, or this
    process's memory, for long (one read of every order outlasted the client's timeout on the
    embedded server, which decodes every match before its first batch)."""
    total = orders().estimated_document_count()
    upper = (now or datetime.now(timezone.utc)) + REBUILD_STEP
    counts = {"written": 0, "deleted": 0, "orders": 0}
    _rebuild_slice({"placed_at": {"$gte": upper}}, counts)  # placed in the future (a clock off)
    _rebuild_slice({"placed_at": None}, counts)
    step, oldest = REBUILD_STEP, upper - timedelta(days=365 * 50)
    while counts["orders"] < total and upper > oldest:
        lower = upper - step
        found = _rebuild_slice({"placed_at": {"$gte": lower, "$lt": upper}}, counts)
        step = step if found else min(step * 2, timedelta(days=64))  # skip quiet years quickly
        upper = lower
    return counts


def _rebuild_slice(where: dict, counts: dict) -> int:
    """Rebuild the rows of the orders matching ``where``; returns how many orders there were."""
    fields = {k: 1 for k in (*SOURCE_FIELDS, "version")}
    wanted = {o["_id"]: to_bson(row_of(o)) for o in orders().find(where, fields)}
    rows = {r["_id"]: r for r in collection().find(where)}
    counts["written"] += _write_rows([row for oid, row in wanted.items() if rows.get(oid) != row])
    strays = [oid for oid in rows if oid not in wanted]
    if strays:  # rows of orders that are gone (or, never seen so far, placed elsewhere: kept)
        alive = {d["_id"] for d in orders().find({"_id": {"$in": strays}}, {"_id": 1})}
        gone = [oid for oid in strays if oid not in alive]
        counts["deleted"] += collection().delete_many({"_id": {"$in": gone}}).deleted_count if gone else 0
    counts["orders"] += len(wanted)
    return len(wanted)


def _write_rows(rows: list[dict]) -> int:
    """Upsert ``rows`` unless a newer version is there; returns how many were written."""
    from pymongo import UpdateOne
    from pymongo.errors import BulkWriteError

    if not rows:
        return 0
    ops = [UpdateOne({"_id": r["_id"], "version": {"$lte": r["version"]}},
                     {"$set": {k: v for k, v in r.items() if k != "_id"}}, upsert=True) for r in rows]
    try:
        result = collection().bulk_write(ops, ordered=False)
    except BulkWriteError as exc:  # rows that moved on meanwhile (a duplicate key on the upsert) stay
        if not only_duplicates(exc):
            raise
        return exc.details["nModified"] + exc.details["nUpserted"]
    return result.modified_count + result.upserted_count
