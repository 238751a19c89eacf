"""Run the router's invariant checks (router/invariants.py) over the database, and make the
repairs that are safe to make.

Safe repairs only touch what no decision depends on:

- stock counters: ``reserved`` := sum of the holds, ``available`` := on hand - reserved, as one
  update guarded on the three counters read (every stock update moves at least one of them, so
  a concurrent reserve, release, ship or adjustment makes the repair miss, not clobber);
- orphan holds of an order that does not exist or is cancelled / rejected, released with the
  same guarded update as any release (the hold must still be there with that quantity).

Everything else (a missing hold, money that does not add up, a stuck order) is reported for a
person: re-reserving could oversell, re-pricing could change what a customer was charged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from documents import orders as order_docs
from documents import capacity, stock
from documents.codec import from_bson
from router import invariants
from router.invariants import Violation

ORDER_FIELDS = ("channel", "channel_order_id", "status", "payment_status", "shipment_status", "routing.state",
                "routing.backordered", "fulfilments", "amounts", "payable", "sub_orders", "line_amounts",
                "routing.backorder_cancelled", "lines",  # every ordered unit accounted for
                "currency", "created_at", "updated_at", "due_at",
                "payment_method", "payments", "exceptions",  # cash on delivery collected, exception flags
                "prices_include_tax", "paid_amount", "refunded_amount")  # tax and refunds
STOCK_FIELDS = ("sku", "warehouse_id", "on_hand", "reserved", "available", "holds")


@dataclass
class RepairReport:
    """What ``repair`` did: one line per change, and what it left for a person."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def load_stock() -> list[dict]:
    return list(stock.collection().find({}, {k: 1 for k in STOCK_FIELDS}))


def load_orders() -> list[dict]:
    return [from_bson(d) for d in order_docs.collection().find({}, {k: 1 for k in ORDER_FIELDS})]


def check_all(now: datetime | None = None, require_timers: bool = False) -> list[Violation]:
    """Every invariant over the connected database; an empty list means all hold.

    Orders are read after stock, so an order routed meanwhile has its fulfilments and
    a hold placed meanwhile is not seen: a live system gives few false alarms (a shipment
    between the two reads can still show as an orphan hold for a moment).
    """
    rows = load_stock()
    orders = load_orders()
    return invariants.check_all(rows, orders, now or datetime.now(timezone.utc), require_timers=require_timers,
                                capacity_rows=capacity.rows())


def repair(violations: list[Violation] | None = None) -> RepairReport:
    """Release orphan holds of dead or missing orders, then recompute drifted stock counters.

    ``violations`` defaults to a fresh :func:`check_all`. Returns what was done and skipped.
    """
    report = RepairReport()
    violations = check_all() if violations is None else violations
    for v in violations:
        if v.kind == "orphan_hold" and v.repair:
            d = v.details
            if stock.release(d["sku"], d["warehouse_id"], d["key"], d["quantity"]):
                report.done.append(f"released orphan hold {d['key']} ({d['quantity']} x {d['sku']} in "
                                   f"{d['warehouse_id']}; order {d['order_status'] or 'missing'})")
            else:
                report.skipped.append(f"hold {d['key']} in {d['sku']}@{d['warehouse_id']} changed meanwhile")
    drifted = {v.subject for v in violations if v.kind in ("reserved_mismatch", "stock_counts", "stock_negative")}
    for row in load_stock():
        subject = invariants.stock_subject(row)
        if subject in drifted or _drifted(row):
            _fix_counters(row, report)
    report.skipped += [str(v) for v in violations if not v.repair]
    return report


def _drifted(row: dict) -> bool:
    target = invariants.counter_targets(row)
    return row.get("reserved") != target["reserved"] or row.get("available") != target["available"]


def _fix_counters(row: dict, report: RepairReport) -> None:
    target = invariants.counter_targets(row)
    subject = invariants.stock_subject(row)
    if target["available"] < 0:
        report.skipped.append(f"{subject}: holds ({target['reserved']}) exceed on hand ({row.get('on_hand')})")
        return
    if row.get("reserved") == target["reserved"] and row.get("available") == target["available"]:
        return
    guard = {"_id": row["_id"], "on_hand": row.get("on_hand"), "reserved": row.get("reserved"),
             "available": row.get("available")}
    result = stock.collection().update_one(guard, {"$set": target})
    if result.modified_count == 1:
        report.done.append(f"{subject}: reserved {row.get('reserved')} -> {target['reserved']}, "
                           f"available {row.get('available')} -> {target['available']}")
    else:
        report.skipped.append(f"{subject}: changed meanwhile, run the check again")
