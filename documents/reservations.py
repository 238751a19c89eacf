"""Holding stock for a routing plan, line by line, with nothing leaked on failure or replay.

Each (order line, warehouse) gets one hold keyed ``<order_id>~<line_no>`` in that warehouse's
stock document. A replayed routing message finds the holds it already made (they are projected
into the stock snapshot) and reuses them; holds no longer in the plan are released.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from documents import stock
from router.fulfilment_flow import PARTLY_OR_ALL_SHIPPED, SHIPPED_OR_LATER, unshipped_quantity
from router.model import PlannedFulfilment


@dataclass(frozen=True)
class Hold:
    sku: str
    warehouse_id: str
    key: str
    quantity: int


def existing_holds(rows: list[dict], order_id: str) -> list[Hold]:
    """The holds of ``order_id`` found in snapshot rows (from :func:`documents.stock.snapshot`)."""
    found = []
    for r in rows:
        for key, qty in (r.get("holds") or {}).items():
            if key.split("~")[0] == order_id:
                found.append(Hold(r["sku"], r["warehouse_id"], key, qty))
    return found


def holds_for(order_id: str, fulfilments: tuple[PlannedFulfilment, ...], tag: str | None = None) -> list[Hold]:
    """The holds a plan needs: one per order line and warehouse (a line split across warehouses
    holds in each of them under the same key, in different stock documents); ``tag``: the
    plan's fulfilments are planned after the first routing (see ``stock.hold_key``)."""
    quantities: dict[tuple[str, str, str], int] = defaultdict(int)
    for f in fulfilments:
        for line in f.lines:
            quantities[(line.sku, f.warehouse_id, stock.hold_key(order_id, line.line_no, tag))] += line.quantity
    return [Hold(sku, wh, key, q) for (sku, wh, key), q in sorted(quantities.items())]


def apply(wanted: list[Hold], existing: list[Hold]) -> tuple[bool, list[Hold]]:
    """Make the holds in stock match ``wanted``.

    Releases existing holds that are not wanted as they are, then places the missing ones.
    Returns ``(ok, failed)``: on failure every hold this call placed is released again, so the
    caller can re-plan with fresh stock.
    """
    keep = set(existing) & set(wanted)
    for hold in set(existing) - keep:
        stock.release(hold.sku, hold.warehouse_id, hold.key, hold.quantity)
    missing = [hold for hold in wanted if hold not in keep]
    placed = stock.reserve_all([(h.sku, h.warehouse_id, h.key, h.quantity) for h in missing])  # one round trip
    if placed < len(missing):
        release_all(missing[:placed])
        return False, [missing[placed]]
    return True, []


def release_all(holds: list[Hold]) -> int:
    """Release ``holds``; returns how many were still there."""
    return sum(stock.release(h.sku, h.warehouse_id, h.key, h.quantity) for h in holds)


def holds_of_order(doc: dict, statuses: frozenset[str] | None = None, fulfilment_id: str | None = None) -> list[Hold]:
    """The holds a stored order's fulfilments account for (only those in ``statuses``, or only
    ``fulfilment_id``, when given): each line's units not shipped yet (a partial confirmation
    shipped the others out of the hold)."""
    return [Hold(l["sku"], f["warehouse_id"], _key(doc, f, l), unshipped_quantity(l))
            for f in doc.get("fulfilments", [])
            if (statuses is None or f["status"] in statuses) and (fulfilment_id is None or f["id"] == fulfilment_id)
            for l in f["lines"] if unshipped_quantity(l)]


def ship_left(doc: dict, fulfilment_id: str, landed: Sequence[bool] | None = None) -> None:
    """Ship out of stock what left the warehouse for the fulfilment, as the stored order says:
    all of it once it shipped, else (partly shipped) the units its partial confirmations
    reported. Converges (see ``stock.ship_all``): a replay ships nothing twice. ``landed``: the
    updates :func:`shipping_writes` gave were written with the order's change, and which landed."""
    stock.ship_all(_left(doc, fulfilment_id), landed)


def shipping_writes(fulfilment_id: str) -> Callable[[dict], list]:
    """For ``documents.orders.Then``: the stock updates that ship what left for the fulfilment,
    as the order the change leaves says (none unless some or all of it shipped)."""
    def make(after: dict) -> list:
        f = next((f for f in after.get("fulfilments", []) if f["id"] == fulfilment_id), None)
        return stock.ship_writes(_left(after, fulfilment_id)) if f and f["status"] in PARTLY_OR_ALL_SHIPPED else []
    return make


def _left(doc: dict, fulfilment_id: str) -> list[tuple[str, str, str, int, int]]:
    f = next((f for f in doc.get("fulfilments", []) if f["id"] == fulfilment_id), None)
    if f is None:
        return []
    whole = f["status"] in SHIPPED_OR_LATER
    return [(l["sku"], f["warehouse_id"], _key(doc, f, l), l["quantity"], 0 if whole else unshipped_quantity(l))
            for l in f["lines"]]


def _key(doc: dict, f: dict, line: dict) -> str:
    """The hold key of a fulfilment line (the one place this module spells it); a fulfilment
    planned after the first routing carries its ``hold_tag``."""
    return stock.hold_key(doc["_id"], line["line_no"], f.get("hold_tag"))
