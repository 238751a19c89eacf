"""Order queries for the API and console: filters on indexed fields, keyset (cursor) pages, and the
status tabs' counts. Lists read the slim rows of ``documents/order_list.py``, never the orders.

Query shapes are chosen so that every query reads only a bounded slice of one index, whatever the
server does with a limit:

- no ``hint`` and no top-level ``$and`` / ``$or``: the planner picks the index from the filter,
  and a filter of one predicate per field leaves it one index range. (On the embedded server a
  hint walks the whole index and a top-level operator is a collection scan, measured 100,000
  documents read for a page of 51: ``wire_quirks.Quirks``.)
- the newest-first walk is cut into time windows (:data:`FIRST_WINDOW` on), each a ``placed_at``
  range beside one equality (or a status and a :data:`~documents.order_list.STATUS_PAIR_FIELDS`
  filter): ``{field: v, placed_at: {$gte, $lte}}``, answered from the ``(field, placed_at, _id)``
  index range alone. The window bounds what one query can cost: on any server where no index
  gives the order (an amount range: its matches are sorted in memory), and on every query where
  the server reads each match before applying the limit, as the embedded one does. Other
  combinations lead with the window, or with an equality that matches few orders, and the
  rest is checked row by row;
- the keyset cursor ``(placed_at, _id)`` is ``placed_at <= p`` on the server, and rows at exactly
  ``p`` with ``_id >= id`` are dropped here: one index range, where an ``$or`` cursor would need
  two (and is a collection scan on the embedded server).

The lower end of a window goes through ``wire_quirks.lower_bound``: ``$gte`` on a real mongod, a
``$gt`` 1 ms earlier on the embedded server, which drops the bound rows of ``$gte`` here.
"""
from __future__ import annotations

import base64
import json
import threading
import time as clock
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from bson.decimal128 import Decimal128

from documents import connection, order_list, wire_quirks
from documents.codec import from_bson
from documents.orders import collection as order_collection

# filter name -> stored field (the same path in an order and in its list row); values are plain strings
EQUALITY = {"status": "status", "payment_status": "payment_status", "shipment_status": "shipment_status",
            "after_sales_status": "after_sales_status", "channel": "channel", "merchant": "merchant_ids",
            "warehouse": "warehouse_ids", "customer": "customer.id", "sku": "skus",
            "channel_order_id": "channel_order_id",
            "flag": "flags"}  # the row's flags only: "exception" while an exception flag is open
# Equalities that match few orders over all time: with another filter beside them they lead the
# query alone (a short index range) instead of the time window.
FEW_PER_VALUE = ("channel_order_id", "customer.id", "skus", "flags")
LIST_PROJECTION = {"timeline": 0, "raw": 0, "routing.decision": 0, "line_amounts": 0}
NEWEST_FIRST = [("placed_at", -1), ("_id", -1)]
# The windows a list looks back through, each after the last, until a page is full: the first
# reaches back FIRST_WINDOW; each next one reaches back as far again as the rows found so far
# suggest is needed (x2 to x8 what has been covered; x8 when nothing was found); past
# LONGEST_WINDOW the last one is unbounded. A page of the newest orders reads a few hours of rows.
FIRST_WINDOW = timedelta(hours=1)
LONGEST_WINDOW = timedelta(days=128)
MAX_GROWTH = 8


class BadCursor(ValueError):
    pass


def order_filter(filters: dict) -> dict:
    """A MongoDB filter from validated query values (strings, datetimes, Decimals only), for orders
    or their list rows alike: the most selective equality first, then ``placed_at``, then the rest."""
    eq = {EQUALITY[name]: str(filters[name]) for name in EQUALITY if filters.get(name) is not None}
    query: dict = {}
    driving = next((f for f in order_list.LIST_FILTER_FIELDS if f in eq), None)
    if driving:
        query[driving] = eq.pop(driving)
    placed = {}
    if filters.get("placed_from") is not None:
        placed["$gte"] = filters["placed_from"]
    if filters.get("placed_to") is not None:
        placed["$lt"] = filters["placed_to"]
    if placed:
        query["placed_at"] = placed
    query.update(eq)
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
        placed = datetime.fromisoformat(placed)
        return (placed if placed.tzinfo else placed.replace(tzinfo=timezone.utc)), str(oid)
    except (ValueError, TypeError, AttributeError) as exc:
        raise BadCursor("cursor is not one this API gave out") from exc


def window_query(filters: dict, lower: datetime | None, upper: datetime | None,
                 upper_inclusive: bool, quirks: wire_quirks.Quirks | None = None) -> dict:
    """The server query for the rows of ``filters`` placed in ``[lower, upper]`` (or ``upper)``),
    as sent to a server with ``quirks`` (default: the connection's, ``connection.quirks``)."""
    query = order_filter(filters)
    placed = dict(query.get("placed_at") or {})
    if lower is not None and ("$gte" not in placed or placed["$gte"] < lower):
        placed["$gte"] = lower
    if upper is not None and (
            "$lt" not in placed or (upper < placed["$lt"] if upper_inclusive else upper <= placed["$lt"])):
        placed.pop("$lt", None)
        placed["$lte" if upper_inclusive else "$lt"] = upper
    if "$gte" in placed:
        quirks = connection.quirks() if quirks is None else quirks
        placed.update(wire_quirks.lower_bound(placed.pop("$gte"), quirks))
    equalities = [k for k in query if k not in ("placed_at", "payable")]
    ordered: dict = {}
    if "payable" not in query and (len(equalities) == 1 or _status_pair(equalities)):
        ordered.update((k, query[k]) for k in equalities)  # equalities + the window: one index range
    elif equalities and equalities[0] in FEW_PER_VALUE:
        ordered[equalities[0]] = query[equalities[0]]  # a short index range, the rest checked row by row
    if placed:
        ordered["placed_at"] = placed  # else the window leads and the rest is checked row by row
    ordered.update((k, v) for k, v in query.items() if k not in ordered)
    return ordered


def _status_pair(equalities: list[str]) -> bool:
    return len(equalities) == 2 and "status" in equalities and \
        next(f for f in equalities if f != "status") in order_list.STATUS_PAIR_FIELDS


def list_rows(filters: dict, limit: int = 50, cursor: str | None = None,
              now: datetime | None = None) -> tuple[list[dict], str | None]:
    """List rows (``documents/order_list.py``), newest first. Returns ``(rows, next_cursor)``;
    next_cursor is None on the last page. Raises :class:`BadCursor`."""
    upper, after_id = (decode_cursor(cursor) if cursor else (None, None))
    anchor = upper or now or datetime.now(timezone.utc)  # the first window has no upper end unless paged
    if filters.get("placed_to") is not None and (upper is None or filters["placed_to"] <= upper):
        anchor, upper, after_id = min(filters["placed_to"], anchor), None, None  # the filter is the upper end
    floor = filters.get("placed_from")
    rows: list[dict] = []
    inclusive = upper is not None
    reach = FIRST_WINDOW
    while True:
        lower = anchor - reach if reach <= LONGEST_WINDOW else None
        if floor is not None and (lower is None or lower <= floor):
            lower = None  # the filter's own bound is the last window
        rows += _window_rows(filters, lower, upper, inclusive, after_id, limit + 1 - len(rows))
        if len(rows) > limit or lower is None:
            break
        upper, inclusive, after_id = lower, False, None  # the next window ends where this one began
        reach *= min(MAX_GROWTH, max(2.0, 1.25 * (limit + 1) / len(rows))) if rows else MAX_GROWTH
    more = len(rows) > limit
    rows = [from_bson(r) for r in rows[:limit]]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


def _window_rows(filters: dict, lower, upper, inclusive: bool, after_id: str | None,
                 wanted: int) -> list[dict]:
    """Up to ``wanted`` rows of one window, newest first, after the cursor row ``(upper, after_id)``."""
    query = window_query(filters, lower, upper, inclusive)
    ask = wanted + (4 if after_id else 0)
    while True:
        found = list(order_list.collection().find(query).sort(NEWEST_FIRST).limit(ask))
        kept = [r for r in found if not (after_id and r["placed_at"] == upper and r["_id"] >= after_id)]
        if len(kept) >= wanted or len(found) < ask:
            return kept[:wanted]
        ask *= 4  # many rows share the cursor's instant: read past them


def list_orders(filters: dict, limit: int = 50, cursor: str | None = None,
                now: datetime | None = None) -> tuple[list[dict], str | None]:
    """Whole orders (less timeline, raw payload and routing detail), newest first: the page is
    found on the list rows, then its orders are read by ``_id`` in one query."""
    rows, next_cursor = list_rows(filters, limit=limit, cursor=cursor, now=now)
    ids = [r["_id"] for r in rows]
    found = {d["_id"]: d for d in order_collection().find({"_id": {"$in": ids}}, LIST_PROJECTION)} \
        if ids else {}
    return [from_bson(found[i]) for i in ids if i in found], next_cursor


# -- status tab counts ------------------------------------------------------------------------------

COUNTS_TTL_S = 30.0  # how old a tab count may be: counting reads every matching row


@dataclass(frozen=True)
class TabCounts:
    """Orders per status and per open after-sales status among those matching a filter, as counted
    at ``as_of`` (at most :data:`COUNTS_TTL_S` ago when served from the cache)."""

    by_status: dict
    by_after_sales: dict
    as_of: datetime


_counts: dict[str, tuple[float, TabCounts]] = {}
_refreshing: set[str] = set()
_counts_lock = threading.Lock()


def count_tabs(filters: dict, open_after_sales: tuple[str, ...]) -> TabCounts:
    """Count now: one aggregation over the list rows matching ``filters`` (status tabs ignored)."""
    base = {k: v for k, v in filters.items() if k not in ("status", "after_sales_status")}
    query = order_filter(base)
    placed = dict(query.get("placed_at") or {})
    if "$gte" in placed:  # the same lower bound as the list's windows (wire_quirks.lower_bound)
        placed.update(wire_quirks.lower_bound(placed.pop("$gte"), connection.quirks()))
        query["placed_at"] = placed
    pipeline = ([{"$match": query}] if query else []) + [
        {"$group": {"_id": {"s": "$status", "a": "$after_sales_status"}, "n": {"$sum": 1}}}]
    by_status: dict[str, int] = {}
    by_after_sales: dict[str, int] = {}
    for row in order_list.collection().aggregate(pipeline):
        status, after_sales = row["_id"].get("s"), row["_id"].get("a")
        by_status[status] = by_status.get(status, 0) + row["n"]
        if after_sales in open_after_sales:
            by_after_sales[after_sales] = by_after_sales.get(after_sales, 0) + row["n"]
    return TabCounts(by_status, by_after_sales, datetime.now(timezone.utc))


def tab_counts(filters: dict, open_after_sales: tuple[str, ...]) -> TabCounts:
    """:func:`count_tabs`, cached per filter for :data:`COUNTS_TTL_S` seconds in this process. A
    stale entry is served once more while a background thread counts again; a filter never
    counted before is counted now."""
    base = {k: v for k, v in filters.items() if k not in ("status", "after_sales_status")}
    key = order_list.collection().full_name + json.dumps(base, sort_keys=True, default=str)
    with _counts_lock:
        cached = _counts.get(key)
        fresh = cached is not None and clock.monotonic() - cached[0] < COUNTS_TTL_S
        refresh = cached is not None and not fresh and key not in _refreshing
        if refresh:
            _refreshing.add(key)
    if cached is None:
        return _store(key, count_tabs(base, open_after_sales))
    if fresh:
        return cached[1]
    if refresh:
        def count_again():
            try:
                _store(key, count_tabs(base, open_after_sales))
            finally:
                with _counts_lock:
                    _refreshing.discard(key)

        threading.Thread(target=count_again, name="tab-counts", daemon=True).start()
    return cached[1]


def _store(key: str, counts: TabCounts) -> TabCounts:
    with _counts_lock:
        if len(_counts) > 256:
            _counts.clear()
        _counts[key] = (clock.monotonic(), counts)
    return counts


def forget_counts() -> None:
    """Drop every cached count (tests, and after a rebuild of the list rows)."""
    with _counts_lock:
        _counts.clear()
