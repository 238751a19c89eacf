"""Report figures, computed by MongoDB aggregation pipelines over the orders collection.

Every pipeline starts with ``$match`` on ``placed_at`` (indexed, newest first) so the server
reads only the orders of the chosen range, then ``$group``s. Currencies are never added
together: every money figure is grouped by currency too, and returned as a decimal string
(``payable`` is stored as Decimal128, so the server sums exactly).

What counts:

- *orders*: orders placed in ``[start, end)``, except ``rejected`` ones (they failed validation
  or risk and never were a sale);
- *revenue*: the sum of ``payable`` over those orders that are not ``cancelled`` either;
- *units* (best and slow sellers): quantities of lines of orders neither rejected nor cancelled;
- *payment to shipment*: from the first ``paid`` payment notice to the first fulfilment that
  shipped, over orders placed in the range that have both.

Times are bucketed by UTC day and month.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bson.decimal128 import Decimal128

from documents import connection, orders
from documents.reference import SkuDocument
from router.statuses import AfterSalesStatus, OrderStatus, PaymentEventType

NOT_ORDERS = (OrderStatus.REJECTED.value,)
NO_REVENUE = (OrderStatus.CANCELLED.value, OrderStatus.REJECTED.value)
PERIOD_FORMATS = {"day": "%Y-%m-%d", "month": "%Y-%m"}
ZERO = Decimal128("0")


@dataclass(frozen=True)
class ReportRange:
    """Orders placed in ``[start, end)`` (aware datetimes), optionally of one ``currency``."""

    start: datetime
    end: datetime
    currency: str | None = None

    def match(self, excluded: tuple[str, ...] = NOT_ORDERS) -> dict:
        query: dict = {"placed_at": {"$gte": self.start, "$lt": self.end}, "status": {"$nin": list(excluded)}}
        if self.currency:
            query["currency"] = self.currency
        return {"$match": query}


def collection():
    """The orders as the reports read them: from where ``ROUTER_MONGO_REPORTS_READ_PREFERENCE`` says
    (``connection.for_reports``; the primary unless told otherwise). A report decides nothing, so a
    secondary a few seconds behind is fine for it."""
    return connection.for_reports(orders.collection())


def _money(value) -> str:
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    return str(Decimal(value if value is not None else 0))


def _revenue() -> dict:
    """``payable`` unless the order was cancelled (a ``$group`` accumulator)."""
    return {"$sum": {"$cond": [{"$in": ["$status", list(NO_REVENUE)]}, ZERO, {"$ifNull": ["$payable", ZERO]}]}}


def orders_by_period(rng: ReportRange, unit: str = "day") -> list[dict]:
    """Rows ``{period, currency, orders, revenue}`` sorted by period then currency;
    ``unit`` is ``day`` (``2024-05-01``) or ``month`` (``2024-05``). Raises KeyError otherwise."""
    period = {"$dateToString": {"format": PERIOD_FORMATS[unit], "date": "$placed_at"}}
    pipeline = [rng.match(),
                {"$group": {"_id": {"period": period, "currency": "$currency"}, "orders": {"$sum": 1},
                            "revenue": _revenue()}},
                {"$sort": {"_id.period": 1, "_id.currency": 1}}]
    return [{"period": r["_id"]["period"], "currency": r["_id"]["currency"], "orders": r["orders"],
             "revenue": _money(r["revenue"])} for r in collection().aggregate(pipeline)]


def by_channel(rng: ReportRange) -> list[dict]:
    """Rows ``{channel, currency, orders, revenue}``, the biggest channel (by orders) first."""
    pipeline = [rng.match(),
                {"$group": {"_id": {"channel": "$channel", "currency": "$currency"}, "orders": {"$sum": 1},
                            "revenue": _revenue()}}]
    rows = [{"channel": r["_id"]["channel"], "currency": r["_id"]["currency"], "orders": r["orders"],
             "revenue": _money(r["revenue"])} for r in collection().aggregate(pipeline)]
    return sorted(rows, key=lambda r: (-r["orders"], r["channel"], r["currency"]))


def by_region(rng: ReportRange) -> list[dict]:
    """Rows ``{country, region, currency, orders, revenue}`` of the shipping address, biggest first."""
    pipeline = [rng.match(),
                {"$group": {"_id": {"country": "$address.country", "region": "$address.region",
                                    "currency": "$currency"}, "orders": {"$sum": 1}, "revenue": _revenue()}}]
    rows = [{"country": r["_id"].get("country") or "", "region": r["_id"].get("region") or "",
             "currency": r["_id"]["currency"], "orders": r["orders"], "revenue": _money(r["revenue"])}
            for r in collection().aggregate(pipeline)]
    return sorted(rows, key=lambda r: (-r["orders"], r["country"], r["region"], r["currency"]))


def sku_sales(rng: ReportRange) -> dict[str, dict]:
    """``{sku: {units, lines, revenue: {currency: decimal string}}}`` for SKUs sold in the range.

    Line revenue is ``unit_price * quantity - discount`` (the line's own discount)."""
    line_total = {"$subtract": [{"$multiply": [{"$toDecimal": "$lines.unit_price"}, "$lines.quantity"]},
                                {"$toDecimal": {"$ifNull": ["$lines.discount", "0"]}}]}
    pipeline = [rng.match(NO_REVENUE), {"$project": {"currency": 1, "lines": 1}}, {"$unwind": "$lines"},
                {"$group": {"_id": {"sku": "$lines.sku", "currency": "$currency"},
                            "units": {"$sum": "$lines.quantity"}, "lines": {"$sum": 1},
                            "revenue": {"$sum": line_total}}}]
    out: dict[str, dict] = {}
    for r in collection().aggregate(pipeline):
        entry = out.setdefault(r["_id"]["sku"], {"units": 0, "lines": 0, "revenue": {}})
        entry["units"] += r["units"]
        entry["lines"] += r["lines"]
        entry["revenue"][r["_id"]["currency"]] = _money(r["revenue"])
    return out


def top_skus(rng: ReportRange, limit: int = 10) -> dict[str, list[dict]]:
    """``{"best": [...], "slow": [...]}``: rows ``{sku, units, lines, revenue}``; best sellers by
    units (most first), slow sellers the fewest units first, counting catalogue SKUs that sold
    nothing in the range as 0. Ties are broken by SKU code."""
    sales = sku_sales(rng)
    catalogue = [d["_id"] for d in connection.for_reports(SkuDocument._get_collection()).find({}, {"_id": 1})]
    for code in catalogue:
        sales.setdefault(code, {"units": 0, "lines": 0, "revenue": {}})
    rows = [{"sku": sku, **v, "revenue": dict(sorted(v["revenue"].items()))} for sku, v in sales.items()]
    best = sorted((r for r in rows if r["units"] > 0), key=lambda r: (-r["units"], r["sku"]))[:limit]
    slow = sorted(rows, key=lambda r: (r["units"], r["sku"]))[:limit]
    return {"best": best, "slow": slow}


def payment_to_shipment(rng: ReportRange) -> dict:
    """``{"overall": {orders, average_seconds, average_hours}, "by_channel": [{channel, ...}]}``.

    Array paths are unwound and grouped with ``$min``, which gives the earliest element on any
    server, rather than read with ``$min`` on an array path inside an expression: the embedded
    server resolves ``"$fulfilments.shipped_at"`` there to nothing
    (``wire_quirks.Quirks.array_paths_unresolved_in_expressions``)."""
    match = rng.match(NO_REVENUE)
    match["$match"].update({"payments.type": PaymentEventType.PAID.value, "fulfilments.shipped_at": {"$type": "date"}})
    pipeline = [
        match, {"$project": {"channel": 1, "payments": 1, "fulfilments": 1}},
        {"$unwind": "$payments"}, {"$match": {"payments.type": PaymentEventType.PAID.value}},
        {"$group": {"_id": "$_id", "channel": {"$first": "$channel"}, "paid": {"$min": "$payments.received_at"},
                    "fulfilments": {"$first": "$fulfilments"}}},
        {"$unwind": "$fulfilments"}, {"$match": {"fulfilments.shipped_at": {"$type": "date"}}},
        {"$group": {"_id": "$_id", "channel": {"$first": "$channel"}, "paid": {"$first": "$paid"},
                    "shipped": {"$min": "$fulfilments.shipped_at"}}},
        {"$project": {"channel": 1, "ms": {"$subtract": ["$shipped", "$paid"]}}},
        {"$group": {"_id": "$channel", "orders": {"$sum": 1}, "total_ms": {"$sum": "$ms"}}},
    ]
    rows = list(collection().aggregate(pipeline))

    def figures(n: int, total_ms: float) -> dict:
        seconds = total_ms / 1000 / n if n else None
        return {"orders": n, "average_seconds": None if seconds is None else round(seconds, 3),
                "average_hours": None if seconds is None else round(seconds / 3600, 2)}

    by_channel = sorted(({"channel": r["_id"], **figures(r["orders"], r["total_ms"])} for r in rows),
                        key=lambda r: r["channel"])
    overall = figures(sum(r["orders"] for r in rows), sum(r["total_ms"] for r in rows))
    return {"overall": overall, "by_channel": by_channel}


# --- the console's tabs ---------------------------------------------------------------------

OPEN_AFTER_SALES = tuple(s.value for s in AfterSalesStatus
                         if s not in (AfterSalesStatus.NONE, AfterSalesStatus.SUCCEEDED, AfterSalesStatus.REJECTED))


def currencies(rng: ReportRange) -> list[str]:
    """Currencies of the orders placed in the range (for the console's currency picker)."""
    pipeline = [rng.match(), {"$group": {"_id": "$currency"}}]
    return sorted(r["_id"] for r in collection().aggregate(pipeline) if r["_id"])
