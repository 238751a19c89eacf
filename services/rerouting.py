"""Re-routing a fulfilment the warehouse refused or short-picked: its holds are released and its
lines routed again, excluding that warehouse for this order."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import structlog

from documents import orders, reference, reservations, stock
from documents.converters import change_fields, order_from_document, order_state, stock_levels
from router import lifecycle
from router.fulfilment_flow import FulfilmentCommand
from router.model import PlannedFulfilment
from router.money import Amounts, split_amounts
from router.routing import plan_fulfilments
from router.statuses import FulfilmentStatus
from services.routing import send_dispatches

log = structlog.get_logger(__name__)
OPEN = frozenset({FulfilmentStatus.RESERVED, FulfilmentStatus.DISPATCHED, FulfilmentStatus.ACCEPTED,
                  FulfilmentStatus.PICKED, FulfilmentStatus.PACKED})


def reroute_failed(order_id: str, fulfilment_id: str) -> None:
    doc = orders.load(order_id, working=True)
    if doc is None:
        return
    failed = next((f for f in doc.get("fulfilments", []) if f["id"] == fulfilment_id), None)
    if failed is None or failed["status"] != FulfilmentStatus.DISPATCH_FAILED or failed.get("rerouted_to") is not None:
        return
    excluded = frozenset(doc.get("excluded_warehouses", [])) | {failed["warehouse_id"]}
    order = order_from_document(doc)
    wanted_lines = {l["line_no"]: l["quantity"] for l in failed["lines"]}
    partial = replace(order, lines=tuple(replace(l, quantity=wanted_lines[l.line_no])
                                         for l in order.lines if l.line_no in wanted_lines))
    keys = [stock.hold_key(order_id, n) for n in wanted_lines]
    rows = stock.snapshot(sorted({l.sku for l in partial.lines}), keys)
    mine = reservations.existing_holds(rows, order_id)
    keep = reservations.holds_of_order(doc, frozenset(s.value for s in OPEN))
    own: dict[tuple[str, str], int] = {}
    for h in mine:
        if h not in keep:
            own[(h.sku, h.warehouse_id)] = own.get((h.sku, h.warehouse_id), 0) + h.quantity
    decision = plan_fulfilments(partial, stock_levels(rows, own), reference.load_network(),
                                exclude_warehouses=excluded, record_inputs=False)
    numbered = tuple(replace(f, fulfilment_id=f"{order_id}-F{len(doc['fulfilments']) + i}")
                     for i, f in enumerate(decision.fulfilments, start=1))
    new_holds = reservations.holds_for(order_id, numbered)
    ok, _ = reservations.apply(keep + new_holds, [h for h in mine])
    if not ok:
        numbered = ()
        reservations.apply(keep, [h for h in mine])
    _save(order_id, fulfilment_id, numbered, sorted(excluded))


def _save(order_id: str, failed_id: str, new: tuple[PlannedFulfilment, ...], excluded: list[str]) -> None:
    now = datetime.now(timezone.utc)

    def decide(doc):
        state = order_state(doc)
        if state.fulfilments.get(failed_id) != FulfilmentStatus.DISPATCH_FAILED:
            return None
        change = lifecycle.on_fulfilment_event(state, failed_id, FulfilmentCommand.CANCEL, now)
        failed = next(f for f in doc["fulfilments"] if f["id"] == failed_id)
        moved = {"rerouted_to": [f.fulfilment_id for f in new], "amounts": Amounts().to_dict(),
                 "amounts_before_reroute": failed.get("amounts")}  # its money now belongs to the new ones
        fields = change_fields(doc, change, {failed_id: moved}, now)
        fields["fulfilments"] = fields["fulfilments"] + _carry_amounts(failed, new, doc["currency"])
        if not new:  # nowhere else has it: its units wait as a backorder
            fields["routing"] = {**doc["routing"], "backordered": (doc["routing"].get("backordered") or [])
                                 + [{"line_no": l["line_no"], "sku": l["sku"], "quantity": l["quantity"]}
                                    for l in failed["lines"]]}
        fields["warehouse_ids"] = sorted({f["warehouse_id"] for f in fields["fulfilments"]})
        fields["excluded_warehouses"] = excluded
        entry = {"at": now, "actor": "system", "event": "routing.rerouted", "from": doc["status"],
                 "to": fields.get("status", doc["status"]),
                 "details": {"failed": failed_id, "new": [f.fulfilment_id for f in new], "excluded": excluded,
                             "backordered": not new}}
        # the cancelled one's stock was already re-placed above: no RELEASE_STOCK follow-up
        return fields, list(change.timeline) + [entry], ()

    doc, _ = orders.update_with(order_id, decide)
    if doc is not None:
        send_dispatches(doc)
    log.info("rerouted", order_id=order_id, failed=failed_id, new=[f.fulfilment_id for f in new])


def _carry_amounts(failed: dict, new: tuple[PlannedFulfilment, ...], currency: str) -> list[dict]:
    """The failed fulfilment's amounts move to its replacements, by units, exactly."""
    out = [_fulfilment(f) for f in new]
    if not out or not failed.get("amounts"):
        return out
    a = failed["amounts"]
    whole = Amounts(Decimal(a["goods"]), Decimal(a["discount"]), Decimal(a["freight"]), Decimal(a["payable"]))
    weights = [Decimal(sum(l.quantity for l in f.lines)) for f in new]
    for f, part in zip(out, split_amounts(whole, weights, currency), strict=True):
        f["amounts"] = part.to_dict()
    return out


def _fulfilment(f: PlannedFulfilment) -> dict:
    return {"id": f.fulfilment_id, "merchant_id": f.merchant_id, "warehouse_id": f.warehouse_id,
            "carrier_id": f.carrier_id, "status": FulfilmentStatus.RESERVED.value,
            "lines": [{"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity} for l in f.lines],
            "freight": str(f.freight), "tracking_number": None, "wms_order_id": None, "tracking": []}
