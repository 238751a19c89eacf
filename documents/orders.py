"""The order document: one per order, with its fulfilments, amounts, decision and timeline.

Hot paths use the raw collection (plain dicts, one round trip per call); mongoengine declares
the collection, its indexes and the document's whole stored shape (``OrderDocument``, its parts
in documents/order_shape.py). Every state change is one guarded update on ``version``.
"""
from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import mongoengine as me
from pymongo.errors import DuplicateKeyError

from documents import connection, order_list, wire_quirks
from documents import order_shape as shape
from documents.codec import from_bson, to_bson
from documents.connection import only_duplicates
from documents.group_insert import GroupInsert
from documents.schedule import schedule_fields
from router.fulfilment_flow import LIVE_PARCEL, live_owner, parcels
from router.statuses import FulfilmentStatus, OrderStatus, RoutingState


class OrderDocument(me.Document):
    """The order document's whole stored shape: every top-level key, each part declared in
    documents/order_shape.py (which also says how money, times and statuses are stored). Writes
    go through the raw collection, never a mongoengine save: this is the reference of the shape,
    checked against real stored orders by tests/integration/test_order_shape.py. Not a
    DynamicDocument: the open values (``raw``, ``routing.decision``, timeline details) are
    declared as open dicts, and an undeclared top-level key is an error."""

    id = me.StringField(primary_key=True)  # services.intake.new_order_id
    channel = me.StringField(required=True)
    channel_order_id = me.StringField(required=True)
    version = me.IntField(required=True)  # every guarded change increments it
    # what was ordered (documents.converters.new_order_document)
    currency = me.StringField(required=True)
    customer = me.EmbeddedDocumentField(shape.Customer)
    address = me.EmbeddedDocumentField(shape.Address, required=True)
    lines = me.ListField(me.EmbeddedDocumentField(shape.OrderLine))
    order_discount = me.Decimal128Field()
    shipping_fee = me.Decimal128Field()  # null: priced by routing
    prices_include_tax = me.BooleanField()  # prices, discounts and shipping fee hold their tax
    shipping_tax = me.Decimal128Field()  # tax on the freight
    stated_total = me.Decimal128Field()  # what the channel says the customer pays; null: not said
    shipping_method = me.StringField()
    payment_method = me.StringField()
    payment = me.EmbeddedDocumentField(shape.PaymentTerms)
    b2b = me.BooleanField()
    notes = me.StringField()
    raw = me.DictField()  # open: the channel's native payload as received (null for canonical posts)
    flags = me.ListField(me.StringField())
    placed_at = me.DateTimeField(required=True)
    created_at = me.DateTimeField(required=True)
    updated_at = me.DateTimeField(required=True)
    # the list's denormalised keys (documents/order_list.py reads them)
    merchant_ids = me.ListField(me.StringField())
    skus = me.ListField(me.StringField())
    warehouse_ids = me.ListField(me.StringField())
    # states (router/statuses.py)
    status = me.StringField(required=True)
    payment_status = me.StringField(required=True)
    shipment_status = me.StringField(required=True)
    after_sales_status = me.StringField(required=True)
    cancel_requested = me.BooleanField()  # a cancel waits for the warehouses' intercepts
    cancelled_by = me.StringField()  # who asked for the cancel (services.commands.cancel): an actor
    refund_due = me.BooleanField()  # money arrived that the order will not keep
    # "<status>_at": when the order reached that status (documents.schedule.schedule_fields)
    pending_payment_at = me.DateTimeField()
    awaiting_shipment_at = me.DateTimeField()
    shipped_at = me.DateTimeField()
    completed_at = me.DateTimeField()
    cancelled_at = me.DateTimeField()
    closed_at = me.DateTimeField()
    on_hold_at = me.DateTimeField()
    rejected_at = me.DateTimeField()
    # routing and fulfilment (services.routing.routed_fields, services.rerouting)
    routing = me.EmbeddedDocumentField(shape.Routing, required=True)
    fulfilments = me.ListField(me.EmbeddedDocumentField(shape.Fulfilment))
    excluded_warehouses = me.ListField(me.StringField())  # warehouses that refused or short-picked
    # money (router.money)
    amounts = me.EmbeddedDocumentField(shape.OrderAmounts)
    payable = me.Decimal128Field()
    sub_orders = me.MapField(me.EmbeddedDocumentField(shape.Amounts))  # per merchant id
    line_amounts = me.MapField(me.EmbeddedDocumentField(shape.Amounts))  # per line number (a string)
    paid_amount = me.Decimal128Field()
    refunded_amount = me.Decimal128Field()
    payments = me.ListField(me.EmbeddedDocumentField(shape.PaymentRecord))
    papers = me.ListField(me.EmbeddedDocumentField(shape.Paper))
    # after-sales (services.after_sales)
    after_sales = me.ListField(me.EmbeddedDocumentField(shape.AfterSalesCase))
    exchange_for = me.EmbeddedDocumentField(shape.ExchangeLink)  # on a replacement order
    reship_for = me.EmbeddedDocumentField(shape.ReshipLink)  # on a reship of a parcel in exception
    # notices to the channel (services.channel_sync) and what the channel last said
    outbox = me.ListField(me.EmbeddedDocumentField(shape.OutboxEntry))
    channel_updated_at = me.DateTimeField()
    native_status = me.StringField()
    ship_by = me.DateTimeField()
    webhook_ids = me.ListField(me.StringField())  # the last 50 channel deliveries applied
    channel_refunds = me.ListField(me.EmbeddedDocumentField(shape.ChannelRefund))  # by the channel's refund id
    # timers (documents.schedule, services.timers) and the reconciler's nudges
    due_at = me.DateTimeField()
    due_timer = me.EmbeddedDocumentField(shape.DueTimer)
    alerted_at = me.MapField(me.DateTimeField())  # per router.timers.alert_key
    exceptions = me.ListField(me.EmbeddedDocumentField(shape.ExceptionFlag))  # router/exceptions.py
    resent_at = me.DateTimeField()
    timeline = me.ListField(me.EmbeddedDocumentField(shape.TimelineEntry))  # append-only

    meta = {
        "collection": order_list.ORDERS_COLLECTION,
        "indexes": [
            {"fields": ["channel", "channel_order_id"], "unique": True},
            # reports match on placed_at first; the order list has its own rows (documents/order_list.py)
            {"fields": ["-placed_at", "-id"]},
            {"fields": ["fulfilments.id"]},
            {"fields": ["fulfilments.tracking_number"]},
            {"fields": ["fulfilments.packages.tracking_number"]},  # parcels of a multi-package shipment
            {"fields": ["due_at"]},
            {"fields": ["routing.state", "updated_at"]},
            {"fields": ["outbox.state"]},
            {"fields": ["fulfilments.status"]},
            {"fields": ["routing.backordered.sku"]},  # orders waiting for a SKU that just arrived
            {"fields": ["fulfilments.merge.until"]},  # fulfilments held for an order merge (services/merging.py)
            {"fields": ["fulfilments.merge.group"]},  # a merged delivery order's members
        ],
    }


DOCUMENTS = (OrderDocument,)

# Indexes earlier releases created on ``orders`` for the order lists, which now read their own
# rows (documents/order_list.py): nothing reads them and every order update paid for them.
# ``ensure_indexes`` drops them from a database created before.
_FORMER_LIST_FIELDS = ("customer.id", "skus", "warehouse_ids", "merchant_ids", "status", "payment_status",
                       "shipment_status", "after_sales_status", "channel")
OBSOLETE_INDEXES = {"orders": frozenset(
    [f"{f}_1_placed_at_-1__id_-1" for f in _FORMER_LIST_FIELDS]
    + [f"{f}_1_placed_at_-1" for f in (*_FORMER_LIST_FIELDS, "payable")]
    + ["placed_at_-1", "channel_order_id_1"])}


def collection():
    return OrderDocument._get_collection()


def now() -> datetime:
    return datetime.now(timezone.utc)


# concurrent webhooks' orders share one insert_many, and their list rows one write after it (a
# row that fails is written by the order's first change, or the nothing-to-do of a replay)
_inserts = GroupInsert(collection, then=order_list.sync_new)


def insert_new(doc: dict) -> tuple[str, bool]:
    """Insert a new order (grouped with concurrent ones, see documents/group_insert.py); on a
    duplicate (channel, channel order id) return the existing id.

    Returns ``(order_id, created)``.
    """
    try:
        _inserts.insert(to_bson(doc))
        owners.remember(("order", doc["_id"]), {"_id": doc["_id"]})  # its payment notice asks (:func:`exists`)
        return doc["_id"], True
    except DuplicateKeyError:
        existing = collection().find_one({"channel": doc["channel"], "channel_order_id": doc["channel_order_id"]},
                                         {"_id": 1})
        if existing is None:  # the duplicate was on _id itself: a replayed insert of this very order
            return doc["_id"], False
        return existing["_id"], False


# What a state change needs: not the timeline (append-only, growing) nor the raw channel payload.
WORKING_SET = {"timeline": 0, "raw": 0}


def load(order_id: str, working: bool = False) -> dict | None:
    """The whole order, or with ``working`` only what deciding a change needs (see WORKING_SET;
    that copy is kept in :data:`recent` too)."""
    raw = collection().find_one({"_id": order_id}, WORKING_SET if working else None)
    doc = from_bson(raw) if raw else None
    if working and doc is not None:
        recent.put(doc)
    return doc


_PARCEL_FIELDS = {f"fulfilments.{k}": 1 for k in (
    "id", "status", "warehouse_id", "carrier_id", "tracking_number", "packages", "dispatched_at",
    "partially_shipped_at", "shipped_at", "tracking.event", "tracking.tracking_number", "merge.group",
    "reclaimed_numbers")}
OWNERS_LIMIT = 20  # orders read per lookup: a number is reused a few times at most
WAYBILLS = "fulfilments.tracking_number"
BOXES = "fulfilments.packages.tracking_number"


def parcel_owners(tracking_number: str, by: Sequence[str] = (WAYBILLS, BOXES)) -> list[dict]:
    """Every fulfilment holding ``tracking_number`` as its waybill or as one of its boxes, as
    ``{order_id, fulfilment_id, warehouse_id, carrier_id, status, since}``: ``carrier_id`` is that
    parcel's carrier (a box may travel with another carrier than the one booked), ``status`` the
    fulfilment's (``delivered`` for a box delivered on its own), ``since`` when it got the number.
    Carriers re-issue numbers, so there may be several (``router.fulfilment_flow.live_owner``
    picks the one events go to). Two indexed lookups, the waybills and the boxes: each is one index
    range on any server, where one top-level ``$or`` would make the embedded server decode every
    order (``wire_quirks``). ``by``: the lookups made (``(WAYBILLS,)``: those holding it as a
    waybill, and any box of theirs, in one). ``reclaimed``: whether a parcel booked or reported
    since claimed the number while this one was live (:func:`note_reclaimed`)."""
    found: dict[str, dict] = {}
    for field in by:
        for doc in collection().find({field: tracking_number}, _PARCEL_FIELDS).limit(OWNERS_LIMIT):
            for f in doc.get("fulfilments", []):
                held = dict(parcels(f))
                if tracking_number not in held or f["id"] in found:
                    continue
                since = f.get("dispatched_at") if f.get("tracking_number") == tracking_number else \
                    f.get("partially_shipped_at") or f.get("shipped_at") or f.get("dispatched_at")
                found[f["id"]] = {"order_id": doc["_id"], "fulfilment_id": f["id"], "warehouse_id": f["warehouse_id"],
                                  "carrier_id": held[tracking_number], "status": parcel_status(f, tracking_number),
                                  "since": since, "merge_group": (f.get("merge") or {}).get("group"),
                                  "reclaimed": tracking_number in (f.get("reclaimed_numbers") or [])}
    return list(found.values())


def note_reclaimed(tracking_number: str, holders: Iterable[dict]) -> None:
    """Mark on each of ``holders`` (live parcels found holding ``tracking_number``, see
    ``services.dispatch.live_claims``) that a newer parcel claims the number: written before the
    claiming order records it, so an owner of the number kept by a process (the carrier-event
    intake) is looked up again once the marked fulfilment is the one named. Bumps the version, as
    an order-level update rewrites the fulfilments it read."""
    for h in holders:
        collection().update_one({"_id": h["order_id"], "fulfilments.id": h["fulfilment_id"]},
                                {"$addToSet": {"fulfilments.$.reclaimed_numbers": tracking_number},
                                 "$inc": {"version": 1}})


def parcel_status(f: dict, tracking_number: str) -> str:
    """The status of fulfilment ``f``'s parcel ``tracking_number``: the fulfilment's, or
    ``delivered`` for a box delivered on its own (as :func:`parcel_owners` reports it)."""
    delivered = any(t.get("event") == "delivered" and t.get("tracking_number") == tracking_number
                    for t in f.get("tracking") or [])
    return FulfilmentStatus.DELIVERED.value if delivered else f["status"]


@dataclass
class Then:
    """Guarded updates of other records that follow from an order's change, written in its round
    trip after it (``order_list.with_order_update``): ``make(order as the change leaves it)`` gives
    them as ``(namespace, filter, update)``. After the save, ``landed`` holds for each whether it
    changed its record; None when they were not written (the order's change did not land, nothing
    was to change, or the change went without its row's round trip): the caller writes them."""

    make: Callable[[dict], list]
    landed: list | None = None


def save_change(order_id: str, version: int, set_fields: dict, timeline: Sequence[dict] = (),
                unset: tuple[str, ...] = (), current: dict | None = None, first: Sequence = (),
                then: Then | None = None) -> dict | None:
    """Apply one guarded update: it lands only if the order is still at ``version``.

    Returns the updated document, or None when someone else changed the order first (the caller
    reloads and decides again). With ``current`` (the document the decision was made on) the
    result is merged locally instead of read back: one round trip, not two. (findAndModify would
    also be one, but sends back the whole order that the merge already has here; it measured 20x
    slower than update_one on the embedded server.) When the change alters the order's list row
    too, the row is written in the same round trip (``order_list.with_order_update``), and so are
    ``first``: upserts of records the change refers to, as ``(namespace, filter, update)``, written
    before the order whether or not its guard holds (``documents.routing_inputs.detached``), and
    ``then``'s updates after it (see :class:`Then`); either makes it one round trip with the row.
    """
    stamp = now()
    update: dict = {"$set": to_bson({**set_fields, "updated_at": stamp}), "$inc": {"version": 1}}
    if timeline:
        update["$push"] = {"timeline": {"$each": to_bson(list(timeline))}}
    if unset:
        update["$unset"] = {k: "" for k in unset}
    guard, paths = {"_id": order_id, "version": version}, (*set_fields, *unset)
    merged = None
    if current is not None and not any("." in k for k in paths):  # the result is known before the write
        merged = {k: v for k, v in current.items() if k not in unset}
        merged.update(set_fields, updated_at=stamp, version=version + 1)
        if "timeline" in current:
            merged["timeline"] = list(current["timeline"]) + list(timeline)
        following = then.make(merged) if then is not None else []
        # the row changes too, or other records follow: all in one round trip (the row rewritten
        # as it is, with its version, when only the others ask for it)
        if order_list.changed(current, merged, paths) or following or first:
            landed_then: list = []
            landed = order_list.with_order_update(collection(), guard, update, merged, first, following, landed_then)
            if landed is not None:
                if landed and then is not None:
                    then.landed = landed_then
                return recent.put(merged) if landed else None
    upsert_all(first)
    result = collection().update_one(guard, update)
    if result.modified_count != 1:
        return None
    if merged is None:
        merged = load(order_id)
    if merged is not None:
        order_list.sync_change(current, merged, paths)  # writes only if the list row changes
        recent.put(merged)
    return merged


def upsert_all(upserts: Sequence) -> None:
    """``(namespace, filter, update)`` upserts, one round trip per collection; a duplicate key (a
    concurrent upsert of the same record) is the record being there."""
    from pymongo import UpdateOne
    from pymongo.errors import BulkWriteError

    by_collection: dict[str, list] = {}
    for namespace, filter_, update in upserts:
        by_collection.setdefault(namespace, []).append(UpdateOne(filter_, update, upsert=True))
    for namespace, ops in by_collection.items():
        name = namespace.split(".", 1)[1]
        try:
            collection().database[name].bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            if not only_duplicates(exc):
                raise


def advance_fulfilment(order_id: str, fulfilment_id: str, expect_status: tuple[str, ...], set_fields: dict,
                       tracking_entry: dict | None, timeline: list[dict], seen: dict | None = None,
                       unread: Unread | None = None) -> bool:
    """Move (or only annotate) one fulfilment with a positional update guarded on its own status
    being one of ``expect_status`` (not on the order's version), appending to its tracking history
    and the order's timeline. An entry with an ``event_id`` is also guarded on that event not being
    in the history yet, so two deliveries of one event racing each other append it once. False
    when the guard no longer holds.

    ``seen``: the copy of the order the step was decided on, when that copy was not just read (see
    :data:`recent`): then the update is also guarded on everything else of the order such a step
    rests on being as that copy has it (:func:`_as_seen`). ``unread``: the step was decided without
    the order at all (``router.lifecycle.direct_step``): guarded as :class:`Unread` says. The copy
    in :data:`recent` follows the update either way."""
    stamp = now()
    update: dict = {"$set": to_bson({**{f"fulfilments.$.{k}": v for k, v in set_fields.items()}, "updated_at": stamp}),
                    "$inc": {"version": 1}}
    push = {}
    if tracking_entry:
        push["fulfilments.$.tracking"] = to_bson(tracking_entry)
    if timeline:
        push["timeline"] = {"$each": to_bson(list(timeline))}
    if push:
        update["$push"] = push
    match: dict = {"id": fulfilment_id, "status": {"$in": [str(s) for s in expect_status]}}
    if tracking_entry and tracking_entry.get("event_id"):
        match["tracking.event_id"] = {"$ne": tracking_entry["event_id"]}
    filter_: dict = {"_id": order_id}
    if seen is not None:
        order_guard, fulfilment_guard = _as_seen(seen, set_fields, tracking_entry)
        filter_.update(order_guard)
        match.update(fulfilment_guard)
    if unread is not None:
        order_guard, fulfilment_guard = unread.guard(fulfilment_id)
        filter_.update(order_guard)
        match.update(fulfilment_guard)
    filter_["fulfilments"] = {"$elemMatch": match}
    result = collection().update_one(filter_, update)
    if result.modified_count != 1:
        recent.drop(order_id)
        return False
    recent.advanced(order_id, fulfilment_id, set_fields, tracking_entry, stamp)
    return True


@dataclass(frozen=True)
class Unread:
    """What a fulfilment step decided without reading the order (``router.lifecycle.direct_step``)
    rests on, besides the fulfilment's status: the order's ``status`` (and ``shipment_status``,
    when given), no cancel asked, no flag ever raised on the fulfilment; for a warehouse's event,
    the fulfilment being that ``warehouse_id``'s; for a carrier's, ``tracking_number`` being the
    fulfilment's waybill, not claimed by a newer parcel since, and no parcel of the fulfilment
    delivered yet."""

    status: str
    shipment_status: str | None = None
    warehouse_id: str | None = None
    tracking_number: str | None = None

    def guard(self, fulfilment_id: str) -> tuple[dict, dict]:
        """``(order guard, fulfilment guard)``."""
        order = {"status": self.status, "cancel_requested": {"$ne": True},
                 "exceptions.fulfilment_id": {"$ne": fulfilment_id}}
        if self.shipment_status is not None:
            order["shipment_status"] = self.shipment_status
        inner: dict = {}
        if self.warehouse_id is not None:
            inner["warehouse_id"] = self.warehouse_id
        if self.tracking_number is not None:
            inner.update({"tracking_number": self.tracking_number, "reclaimed_numbers": {"$ne": self.tracking_number},
                          "tracking.event": {"$ne": "delivered"}})
        return order, inner


def _as_seen(seen: dict, set_fields: dict, tracking_entry: dict | None) -> tuple[dict, dict]:
    """The guard of a fulfilment step decided on an earlier copy of the order (``seen``): besides
    the fulfilment's own status and history (guarded by the caller), what else of the order the
    lifecycle decided on: the order's statuses, a cancel asked for, the number of exception flags
    (a flag raised since changes it; one settled since only made the copy look flagged, which
    takes the order-level path anyway), the number of backordered lines; and, in the fulfilment,
    the tracking number still unset when the step sets it and the event's number not claimed by
    a newer parcel since (``note_reclaimed``). Returns ``(order guard, fulfilment guard)``."""
    guard: dict = {"status": seen["status"], "shipment_status": seen["shipment_status"],
                   "cancel_requested": True if seen.get("cancel_requested") else {"$ne": True}}
    guard.update(_same_length("exceptions", seen.get("exceptions")))
    guard.update(_same_length("routing.backordered", (seen.get("routing") or {}).get("backordered")))
    inner: dict = {}
    if "tracking_number" in set_fields:
        inner["tracking_number"] = None
    number = (tracking_entry or {}).get("tracking_number")
    if number:
        inner["reclaimed_numbers"] = {"$ne": number}
    return guard, inner


def _same_length(path: str, items) -> dict:
    return {path: {"$size": len(items)}} if items else {f"{path}.0": {"$exists": False}}


# --- order merge (services/merging.py) ------------------------------------------------------

MERGE_HELD = {"status": FulfilmentStatus.RESERVED.value, "merge.group": None, "merge.released_at": None}


def merge_holds_due(now: datetime, limit: int) -> list[dict]:
    """Orders with a reserved fulfilment held for a merge whose window has closed by ``now``."""
    match = {**MERGE_HELD, "merge.until": {"$lte": now}}
    return [from_bson(d) for d in _narrowed({"fulfilments.merge.until": {"$gt": _EPOCH, "$lte": now}},
                                            {"fulfilments": {"$elemMatch": match}}, _MERGE_FIELDS, limit)]


def merge_holds_at(warehouse_id: str, limit: int) -> list[dict]:
    """Orders with a reserved fulfilment at ``warehouse_id`` held for a merge, not released yet."""
    match = {**MERGE_HELD, "warehouse_id": warehouse_id, "merge.until": {"$ne": None}}
    return [from_bson(d) for d in _narrowed({"fulfilments.merge.until": {"$gt": _EPOCH}},
                                            {"fulfilments": {"$elemMatch": match}}, _MERGE_FIELDS, limit)]


# Before any hold's window (a lower bound keeps the index range off the fulfilments never held)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


_MERGE_FIELDS = {"customer": 1, "address": 1, "currency": 1, "shipping_method": 1, "b2b": 1, "payment_method": 1,
                 "fulfilments.id": 1, "fulfilments.status": 1, "fulfilments.merchant_id": 1,
                 "fulfilments.warehouse_id": 1, "fulfilments.merge": 1}


def hold_for_merge(order_id: str, fulfilment_id: str, hold: dict, timeline: list[dict]) -> bool:
    """Hold one reserved fulfilment for an order merge (``hold``: held_at, until), one positional
    update guarded on it being reserved and not held yet. False when the guard no longer holds."""
    match = {"id": fulfilment_id, "status": FulfilmentStatus.RESERVED.value, "merge": None}
    update: dict = {"$set": to_bson({"fulfilments.$.merge": hold, "updated_at": now()}), "$inc": {"version": 1},
                    "$push": {"timeline": {"$each": to_bson(list(timeline))}}}
    return collection().update_one({"_id": order_id, "fulfilments": {"$elemMatch": match}}, update).modified_count == 1


def release_merge_hold(order_id: str, fulfilment_id: str, fields: dict, timeline: list[dict]) -> bool:
    """Release one held fulfilment (``fields`` under its ``merge``: group, members, released_at),
    one positional update guarded on it being reserved, held and not released yet: a repeated or
    concurrent release lands once. False when the guard no longer holds."""
    match = {"id": fulfilment_id, **MERGE_HELD, "merge.until": {"$ne": None}}
    update: dict = {"$set": to_bson({**{f"fulfilments.$.merge.{k}": v for k, v in fields.items()},
                                     "updated_at": now()}), "$inc": {"version": 1}}
    if timeline:
        update["$push"] = {"timeline": {"$each": to_bson(list(timeline))}}
    return collection().update_one({"_id": order_id, "fulfilments": {"$elemMatch": match}}, update).modified_count == 1


def merge_group_members(group: str) -> list[dict]:
    """The summaries (``{order_id, fulfilment_id, warehouse_id, carrier_id}``) of the fulfilments
    a merged delivery order ``group`` holds, in its members' order (empty when unknown)."""
    found = {}
    for doc in collection().find({"fulfilments.merge.group": group}, {"fulfilments": 1}):
        for f in doc.get("fulfilments", []):
            if (f.get("merge") or {}).get("group") == group:
                members = f["merge"].get("members") or []
                found[f"{doc['_id']}/{f['id']}"] = (members, {"order_id": doc["_id"], "fulfilment_id": f["id"],
                                                              "warehouse_id": f["warehouse_id"],
                                                              "carrier_id": f.get("carrier_id")})
    order = next((m for m, _ in found.values()), [])
    return [found[k][1] for k in order if k in found]


def stamp_resent(order_ids: list[str], at: datetime) -> None:
    """Note that the reconciler nudged these orders (not a state change: no version bump)."""
    if order_ids:
        collection().update_many({"_id": {"$in": list(order_ids)}}, {"$set": {"resent_at": at}})


def ids_in_state(filter_: dict, limit: int) -> list[str]:
    return [d["_id"] for d in collection().find(filter_, {"_id": 1}).limit(limit)]


def _narrowed(indexed: dict, rest: dict, projection: dict, limit: int) -> list[dict]:
    """Orders matching ``indexed`` and ``rest`` (up to ``limit``, with ``projection``). A server
    that uses an index only when it holds every field of the filter (the embedded one,
    ``wire_quirks.Quirks.index_needs_every_field``) is asked ``indexed`` alone, one index range,
    and ``rest`` is checked here on what it sends (``wire_quirks.matches``); mongod gets the whole
    filter. ``indexed`` names the fields of one index, ``rest`` the conditions beside it."""
    if not connection.quirks().index_needs_every_field:
        return list(collection().find({**indexed, **rest}, projection).limit(limit))
    checked = {path.split(".")[0] for path in rest}  # read whole, as the conditions need them
    fields = {**{k: v for k, v in projection.items() if k.split(".")[0] not in checked}, **dict.fromkeys(checked, 1)}
    found = []
    for doc in collection().find(indexed, fields):
        if wire_quirks.matches(doc, rest):
            found.append(doc)
            if len(found) == limit:
                break
    return found


def _quiet(cutoff: datetime) -> dict:
    # never re-sent, or not since the cutoff; not a top-level $or, which the embedded server
    # answers by decoding the whole collection (measured on 5,000 orders: 81 ms against 6 ms)
    return {"resent_at": {"$not": {"$gte": cutoff}}}


def due_ids(now: datetime, limit: int) -> list[str]:
    """Orders whose next deadline (``due_at``) has passed."""
    return ids_in_state({"due_at": {"$lte": now}}, limit)


def stuck_in_routing(cutoff: datetime, limit: int) -> list[str]:
    """Orders still ``received`` (routing never ran) since before ``cutoff``, not nudged since."""
    return [d["_id"] for d in _narrowed({"routing.state": RoutingState.RECEIVED.value, "updated_at": {"$lt": cutoff}},
                                        _quiet(cutoff), {"_id": 1}, limit)]


def stalled_dispatch(cutoff: datetime, limit: int) -> list[str]:
    """Orders awaiting shipment with a reserved fulfilment that never went out, idle since ``cutoff``."""
    return [d["_id"] for d in _narrowed({"fulfilments.status": FulfilmentStatus.RESERVED.value},
                                        {"status": OrderStatus.AWAITING_SHIPMENT.value, "updated_at": {"$lt": cutoff},
                                         **_quiet(cutoff)}, {"_id": 1}, limit)]


def waiting_for_stock(sku: str, limit: int) -> list[str]:
    """Orders with units of ``sku`` backordered and still waiting (pending payment or awaiting
    shipment), oldest placed first."""
    waiting = [OrderStatus.PENDING_PAYMENT.value, OrderStatus.AWAITING_SHIPMENT.value]
    found = _narrowed({"routing.backordered.sku": sku}, {"status": {"$in": waiting}}, {"_id": 1, "placed_at": 1}, limit)
    return [d["_id"] for d in sorted(found, key=lambda d: (d["placed_at"], d["_id"]))]


def pending_outbox(cutoff: datetime, limit: int) -> list[dict]:
    """Orders (``_id`` and ``outbox``) with a channel notice still pending since ``cutoff``."""
    return _narrowed({"outbox.state": "pending"}, {"updated_at": {"$lt": cutoff}, **_quiet(cutoff)}, {"outbox": 1}, limit)


def has_seen_webhook(order_id: str, webhook_id: str) -> bool:
    """Whether the channel delivery ``webhook_id`` was applied to the order already."""
    seen = collection().find_one({"_id": order_id}, {"webhook_ids": 1}) or {}
    return webhook_id in (seen.get("webhook_ids") or [])


def remember_webhook(order_id: str, webhook_id: str) -> None:
    """Keep the last 50 channel delivery ids the order has seen."""
    collection().update_one({"_id": order_id}, {"$push": {"webhook_ids": {"$each": [webhook_id], "$slice": -50}}})


def id_by_channel_order(channel: str, channel_order_id: str) -> str | None:
    """The order a channel knows as ``channel_order_id`` (the unique key), or None."""
    found = collection().find_one({"channel": channel, "channel_order_id": channel_order_id}, {"_id": 1})
    return found["_id"] if found else None


def record_channel_refund(order_id: str, refund_id: str, amount: str, sub_order: str, at: datetime) -> list[dict]:
    """Keep the channel's refund ``refund_id`` of ``amount`` (a decimal string) on the order once
    (a repeat changes nothing); returns every refund kept."""
    entry = {"refund_id": refund_id, "amount": amount, "sub_order": sub_order, "recorded_at": at}
    collection().update_one({"_id": order_id, "channel_refunds.refund_id": {"$ne": refund_id}},
                            {"$push": {"channel_refunds": entry}})
    found = collection().find_one({"_id": order_id}, {"channel_refunds": 1}) or {}
    return list(found.get("channel_refunds") or [])


def record_channel_state(order_id: str, updated_at: datetime, native_status: str) -> None:
    """The channel's own last-modified time and status word, unless a newer one is stored."""
    collection().update_one({"_id": order_id,  # unset or older; no top-level $or (a scan on the embedded server)
                             "channel_updated_at": {"$not": {"$gte": updated_at}}},
                            {"$set": {"channel_updated_at": updated_at, "native_status": native_status}})


class ConcurrentUpdate(Exception):
    """The order kept changing under us; the message will be retried."""


def update_with(order_id: str, decide, attempts: int = 8, current: dict | None = None,
                then: Then | None = None) -> tuple[dict | None, Any]:
    """Load, decide, save with a version guard; on a conflict reload and decide again.

    ``decide(doc)`` returns ``(set_fields, timeline, result)``, or ``None`` for "nothing to do".
    ``current``: the working set the caller has just loaded (see :func:`load`), used for the first
    attempt instead of reading it again; the version guard makes a stale one merely cost a retry.
    Returns ``(document after, result)``; the document is the unchanged one when nothing was done,
    and None when the order does not exist. Raises :class:`ConcurrentUpdate` after ``attempts``.
    ``then``: see :func:`save_change`.
    """
    for attempt in range(attempts):
        if attempt:  # events for one order arrive together: back off a little, with jitter
            time.sleep(random.uniform(0, 0.01 * 2 ** attempt))
        doc = current if attempt == 0 and current is not None else load(order_id, working=True)
        if doc is None:
            return None, None
        decision = decide(doc)
        if decision is None:
            # Nothing to do is often a replay after a crash, which may have struck between the
            # order's write and its list row's: put the row right (a no-op when it is current).
            order_list.sync(doc)
            return doc, None
        fields, timeline, result = decision
        fields = {**fields, **schedule_fields(doc, fields, now())}
        saved = save_change(order_id, doc["version"], fields, timeline, current=doc, then=then)
        if saved is not None:
            return saved, result
    raise ConcurrentUpdate(order_id)


def load_many(order_ids: list[str], projection: dict) -> dict[str, dict]:
    """``{order_id: document}`` for those of ``order_ids`` that exist, in one round trip."""
    if not order_ids:
        return {}
    return {d["_id"]: from_bson(d) for d in collection().find({"_id": {"$in": list(order_ids)}}, projection)}


def exists(order_id: str) -> bool:
    """Whether the order exists (orders are never deleted, so a yes is kept like an owner)."""
    return owners.get(("order", order_id), lambda: collection().find_one({"_id": order_id}, {"_id": 1})) is not None


def load_routing(order_id: str) -> dict | None:
    """The order's routing decisions (the first and the later ones) and its fulfilments' lines (for
    a replay of the decisions)."""
    return collection().find_one({"_id": order_id}, {"routing.decision": 1, "routing.decisions": 1,
                                                     "fulfilments.id": 1, "fulfilments.lines": 1})


def load_summary(order_id: str) -> dict | None:
    return collection().find_one({"_id": order_id}, {"_id": 1, "status": 1})


class _Owners:
    """Which order, warehouse and carrier a fulfilment id belongs to (and that an order exists):
    set when the fulfilment is planned and never changed after
    (orders are never deleted), so a process may keep what it found; not what it did not find, as
    a fulfilment may appear any moment. Bounded; keyed by database too, as tests share a process
    across databases."""

    def __init__(self, size: int = 50_000):
        self.size, self.lock = size, threading.Lock()
        self.found: OrderedDict[tuple, dict] = OrderedDict()

    def get(self, key: tuple, load) -> dict | None:
        key = (collection().database.name, *key)
        with self.lock:
            hit = self.found.get(key)
        if hit is not None:
            return hit
        hit = load()
        if hit is not None:
            self._keep(key, hit)
        return hit

    def remember(self, key: tuple, found: dict) -> None:
        """Keep what this process itself just wrote (an order it inserted)."""
        self._keep((collection().database.name, *key), found)

    def _keep(self, key: tuple, found: dict) -> None:
        with self.lock:
            self.found[key] = found
            while len(self.found) > self.size:
                self.found.popitem(last=False)


owners = _Owners()


def load_summary_by_fulfilment(fulfilment_id: str) -> dict | None:
    """``{order_id, fulfilment_id, warehouse_id, carrier_id}`` of a fulfilment, or None."""
    def load():
        doc = collection().find_one({"fulfilments.id": fulfilment_id}, {"fulfilments": 1})
        return _summary(doc, lambda f: f["id"] == fulfilment_id)

    return owners.get(("fulfilment", fulfilment_id), load)


def warehouse_owner(fulfilment_id: str) -> dict | None:
    """``{order_id, warehouse_id}`` of a fulfilment, for its warehouse's events: as an event of
    that warehouse landing on it showed (:func:`note_warehouse_owner`), else looked up."""
    return owners.get(("warehouse", fulfilment_id), lambda: load_summary_by_fulfilment(fulfilment_id))


def note_warehouse_owner(fulfilment_id: str, order_id: str, warehouse_id: str) -> None:
    """An event of ``warehouse_id`` landed on fulfilment ``fulfilment_id`` of order ``order_id``
    (a write guarded on the fulfilment being that warehouse's): its next events need no lookup."""
    owners.remember(("warehouse", fulfilment_id), {"order_id": order_id, "warehouse_id": warehouse_id})


class _RecentOrders:
    """The working set (see :func:`load`) of each order this process read or wrote lately, as it
    left them, so that an in-stage step of a fulfilment (a pick, a scan in transit) can be written
    without reading the order first: the write is guarded on everything of the order the step was
    decided on (``advance_fulfilment(..., seen=...)``), and a guard that no longer holds drops the
    copy and costs one read, as before. Another process's write to a sibling fulfilment does not
    make the copy wrong for this one. Bounded and short-lived; keyed by database too, as tests
    share a process across databases. Copies are replaced, never changed in place."""

    def __init__(self, ttl: float = 120.0, size: int = 4_000):
        self.ttl, self.size, self.lock = ttl, size, threading.Lock()
        self.docs: OrderedDict[tuple, tuple[float, dict]] = OrderedDict()

    def _key(self, order_id: str) -> tuple:
        return collection().database.name, order_id

    def get(self, order_id: str) -> dict | None:
        key = self._key(order_id)
        with self.lock:
            hit = self.docs.get(key)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def put(self, doc: dict) -> dict:
        """Keep ``doc`` (its working set) as the order's copy; returns ``doc``."""
        kept = {k: v for k, v in doc.items() if k not in WORKING_SET}
        key = self._key(doc["_id"])
        with self.lock:
            self.docs[key] = (time.monotonic() + self.ttl, kept)
            self.docs.move_to_end(key)
            while len(self.docs) > self.size:
                self.docs.popitem(last=False)
        return doc

    def drop(self, order_id: str) -> None:
        with self.lock:
            self.docs.pop(self._key(order_id), None)

    def advanced(self, order_id: str, fulfilment_id: str, set_fields: dict, tracking_entry: dict | None,
                 stamp: datetime) -> None:
        """The copy after ``advance_fulfilment`` landed, if there is one."""
        doc = self.get(order_id)
        if doc is None:
            return
        fulfilments = []
        for f in doc.get("fulfilments", []):
            if f["id"] == fulfilment_id:
                f = {**f, **set_fields}
                if tracking_entry:
                    f["tracking"] = list(f.get("tracking") or []) + [tracking_entry]
            fulfilments.append(f)
        self.put({**doc, "fulfilments": fulfilments, "updated_at": stamp, "version": doc.get("version", 0) + 1})


recent = _RecentOrders()


class _RecentParcelOwners:
    """The holders of a carrier's tracking number that its events go by, as read at most ``ttl``
    seconds ago, per process (the carrier-event intake asks for every event, and a parcel's events
    come in bursts). Read from the waybills alone (one lookup) when their newest live parcel holds
    it unclaimed, else from the waybills and the boxes (:func:`parcel_owners`).

    An entry may go stale as a number changes hands; the worker makes that harmless: an event
    whose fulfilment's parcel is no longer live (delivered or cancelled), or was claimed by a newer
    parcel (:func:`note_reclaimed`, written before the claim is recorded), goes to the live owner
    looked up again then (``services.events._to_live_owner``), and an event applied at the edge is
    guarded on the parcel being live and unclaimed (``Unread``). The expiry (5 minutes: a parcel's
    events from its label to its delivery) bounds anything else (a merged delivery order's members
    are read together). A number nobody holds is not kept.
    Bounded; keyed by database too, as tests share a process across databases."""

    def __init__(self, ttl: float = 300.0, size: int = 20_000):
        self.ttl, self.size, self.lock = ttl, size, threading.Lock()
        self.found: OrderedDict[tuple, tuple[float, list[dict]]] = OrderedDict()

    def get(self, tracking_number: str, carrier_id: str) -> list[dict]:
        key, now_s = (collection().database.name, carrier_id, tracking_number), time.monotonic()
        with self.lock:
            hit = self.found.get(key)
        if hit is not None and hit[0] > now_s:
            return hit[1]
        found = [o for o in parcel_owners(tracking_number, (WAYBILLS,)) if o["carrier_id"] == carrier_id]
        newest = live_owner(found)
        if newest is None or newest["status"] not in LIVE_PARCEL or newest["reclaimed"]:
            # a box may hold it too: only a newer live parcel can take events from a live
            # waybill, and it marks that waybill when it claims the number (note_reclaimed)
            seen = {o["fulfilment_id"] for o in found}
            found += [o for o in parcel_owners(tracking_number, (BOXES,))
                      if o["carrier_id"] == carrier_id and o["fulfilment_id"] not in seen]
        with self.lock:
            if found:
                self.found[key] = (now_s + self.ttl, found)
                self.found.move_to_end(key)
                while len(self.found) > self.size:
                    self.found.popitem(last=False)
            else:
                self.found.pop(key, None)
        return found


recent_parcel_owners = _RecentParcelOwners()


def load_summary_by_tracking(tracking_number: str, carrier_id: str | None = None) -> dict | None:
    """The summary of the fulfilment whose parcel ``tracking_number`` (of ``carrier_id``, when
    given) events go to: its live owner (``router.fulfilment_flow.live_owner``); ``carrier_id`` is
    that parcel's carrier. With a carrier, from its holders read in the last 5 minutes
    (:class:`_RecentParcelOwners`: a number may change hands, and the worker checks the owner
    before applying the event)."""
    found = recent_parcel_owners.get(tracking_number, carrier_id) if carrier_id is not None \
        else parcel_owners(tracking_number)
    owner = live_owner(found)
    return None if owner is None else {k: owner[k] for k in ("order_id", "fulfilment_id", "warehouse_id", "carrier_id")}


def _summary(doc, match) -> dict | None:
    for f in (doc or {}).get("fulfilments", []):
        if match(f):
            return {"order_id": doc["_id"], "fulfilment_id": f["id"], "warehouse_id": f["warehouse_id"],
                    "carrier_id": f.get("carrier_id")}
    return None
