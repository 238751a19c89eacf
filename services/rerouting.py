"""Re-routing a fulfilment the warehouse refused or short-picked: its lines are routed again with
the current rules, excluding that warehouse for this order, the decision recorded like the first
routing's (replayable); the failed fulfilment is cancelled and its holds released."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import structlog

from config import get_settings
from documents import orders, reference, reservations, routing_inputs, stock
from documents.converters import (change_fields, new_fulfilment_document, order_from_document, order_state,
                                  stock_levels)
from documents.schedule import backorder_entries
from router import backorders, lifecycle
from router.fulfilment_flow import FulfilmentCommand
from router.model import FulfilmentLine, Order, PlannedFulfilment
from router.money import Amounts
from router.routing import plan_fulfilments
from router.statuses import FulfilmentStatus
from services import placing
from services.follow_up import follow_up
from services.routing import current_rules, own_holds, send_dispatches

log = structlog.get_logger(__name__)
OPEN = frozenset({FulfilmentStatus.RESERVED, FulfilmentStatus.DISPATCHED, FulfilmentStatus.ACCEPTED,
                  FulfilmentStatus.PICKED, FulfilmentStatus.PACKED,
                  FulfilmentStatus.PARTIALLY_SHIPPED})  # holds what has not left yet


def reroute_failed(order_id: str, fulfilment_id: str, now: datetime | None = None) -> None:
    """Route the failed fulfilment's units again with the current rules, stock and warehouse
    capacity, away from every warehouse that refused this order; record the decision and its
    inputs (replayable, in ``routing.decisions``). Units placed nowhere wait as a backorder."""
    now = now or datetime.now(timezone.utc)
    doc = orders.load(order_id, working=True)
    failed = next((f for f in (doc or {}).get("fulfilments", []) if f["id"] == fulfilment_id), None)
    if doc is None or failed is None or failed["status"] != FulfilmentStatus.DISPATCH_FAILED \
            or failed.get("rerouted_to") is not None:
        return
    excluded = frozenset(doc.get("excluded_warehouses", [])) | {failed["warehouse_id"]}
    tag = f"R{len(doc['routing'].get('decisions') or []) + 1}"  # its holds may share a warehouse with others'
    partial = _failed_part(order_from_document(doc), failed)
    keys = [stock.hold_key(order_id, line.line_no, tag) for line in partial.lines]
    rows = stock.snapshot(sorted({line.sku for line in partial.lines}), keys)
    mine = reservations.existing_holds(rows, order_id)  # a re-route that died before saving: reused or released
    network = placing.with_capacity(reference.load_network(), now, {line.merchant_id for line in partial.lines})
    decision = plan_fulfilments(partial, stock_levels(rows, own_holds(mine)), network, current_rules(),
                                exclude_warehouses=excluded, approved=True,  # it was released for routing already
                                first_fulfilment=len(doc["fulfilments"]) + 1)
    placed = placing.place(order_id, decision.fulfilments, mine, network, now, tag) \
        if decision.fulfilments and not decision.held_reason else None
    if placed is None:  # nowhere has it now (or stock moved meanwhile): its units wait as a backorder
        reservations.release_all(mine)
    explanation = routing_inputs.detach(order_id, decision.explanation, now, get_settings().routing_inputs_days)
    new = decision.fulfilments if placed is not None else ()
    _save(order_id, fulfilment_id, new, sorted(excluded), tag, explanation, now, placed)


def _failed_part(order: Order, failed: dict) -> Order:
    """The order as re-routing sees the failed fulfilment's units: its lines with those quantities."""
    wanted = {line["line_no"]: line["quantity"] for line in failed["lines"]}
    return replace(order, lines=tuple(replace(line, quantity=wanted[line.line_no])
                                      for line in order.lines if line.line_no in wanted))


def _save(order_id: str, failed_id: str, new: tuple[PlannedFulfilment, ...], excluded: list[str], tag: str,
          explanation: dict, now: datetime, placed: placing.Placed | None) -> None:
    new_ids = [f.fulfilment_id for f in new]

    def decide(doc):
        state = order_state(doc)
        if state.fulfilments.get(failed_id) != FulfilmentStatus.DISPATCH_FAILED:
            return None
        failed = next(f for f in doc["fulfilments"] if f["id"] == failed_id)
        money, left = _carry(doc, failed, new, now)
        waiting = backorders.merge(backorder_entries(doc, now) + left)
        planned = {**state.fulfilments, **{fid: FulfilmentStatus.RESERVED for fid in new_ids}}
        change = lifecycle.on_fulfilment_event(replace(state, fulfilments=planned,
                                                       backordered_units=backorders.units(waiting)),
                                               failed_id, FulfilmentCommand.CANCEL, now)
        moved = {"rerouted_to": new_ids, "amounts": Amounts().to_dict(),
                 "amounts_before_reroute": failed.get("amounts")}  # its money now belongs to the new ones
        cod = failed.get("cod_amount") is not None
        if cod:
            moved["cod_amount"] = str(Amounts().payable)  # and so does what the courier collects
        fields = change_fields(doc, change, {failed_id: moved}, now)
        fields["fulfilments"] = fields["fulfilments"] + [new_fulfilment_document(f, money[f.fulfilment_id], money[f.fulfilment_id].payable if cod else None, tag)
                                                         for f in new]
        fields["routing"] = {**doc["routing"], "backordered": [e.to_dict() for e in waiting],
                             "decisions": list(doc["routing"].get("decisions") or []) + [
                                 {"kind": "reroute", "at": now, "decision": explanation, "fulfilments": new_ids,
                                  "failed": failed_id}]}
        fields["warehouse_ids"] = sorted({f["warehouse_id"] for f in fields["fulfilments"]})
        fields["excluded_warehouses"] = excluded
        entry = {"at": now, "actor": "system", "event": "routing.rerouted", "from": doc["status"],
                 "to": fields.get("status", doc["status"]),
                 "details": {"failed": failed_id, "new": new_ids, "excluded": excluded,
                             "backordered": backorders.units(left)}}
        return fields, list(change.timeline) + [entry], change.outcomes  # release_stock: the failed one's holds

    doc, outcomes = orders.update_with(order_id, decide)
    if placed is not None and not any(f["id"] in new_ids and f.get("hold_tag") == tag
                                      for f in (doc or {}).get("fulfilments", [])):
        placing.undo(placed, reservations.holds_of_order(doc or {"_id": order_id}),  # re-routed by another run
                     [(f["warehouse_id"], f["id"]) for f in (doc or {}).get("fulfilments", [])], now)
        return
    follow_up(doc, outcomes)
    if doc is not None:
        send_dispatches(doc)
    log.info("rerouted", order_id=order_id, failed=failed_id, new=new_ids)


def _carry(doc: dict, failed: dict, new: tuple[PlannedFulfilment, ...],
           now: datetime) -> tuple[dict[str, Amounts], tuple[backorders.Backorder, ...]]:
    """The failed fulfilment's money (tax included) moves with its units, exactly: to the
    replacements that took them, and the rest with the units left waiting as a backorder."""
    prices = {line["line_no"]: Decimal(str(line["unit_price"])) for line in doc["lines"]}
    units = [FulfilmentLine(line["line_no"], line["sku"], line["quantity"]) for line in failed["lines"]]
    entries = backorders.from_decision(units, backorders.amounts_from(failed.get("amounts")), prices,
                                       doc["currency"], now)
    return backorders.take(entries, {f.fulfilment_id: {line.line_no: line.quantity for line in f.lines}
                                     for f in new}, doc["currency"])
