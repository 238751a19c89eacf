"""Telling a warehouse about an order that changed after its fulfilment reached it: a cancel's
intercept (and what the warehouse answered), a new shipping address."""
from __future__ import annotations

from datetime import datetime, timezone

import structlog

from documents import orders
from documents.converters import change_fields, order_state
from router import lifecycle
from router.fulfilment_flow import AT_WAREHOUSE
from services import refunds
from services.dispatch import fulfilment_in, warehouse_of
from services.follow_up import follow_up
from services.outbox import send_pending
from services.ports import outbound

log = structlog.get_logger(__name__)


def intercept_fulfilment(order_id: str, fulfilment_id: str) -> None:
    """Ask the warehouse to stop a dispatched fulfilment (a cancel after dispatch)."""
    f = fulfilment_in(orders.load(order_id, working=True), fulfilment_id)
    if f is None or f["status"] not in AT_WAREHOUSE:
        return
    if (f.get("merge") or {}).get("group"):
        # inside a merged delivery order: neither the generic protocol nor Qimen can drop some of
        # its lines, and stopping it would stop the other orders too; it ships (services/merging.py)
        intercepted = False
        log.info("merged_intercept_refused", order_id=order_id, fulfilment_id=fulfilment_id, group=f["merge"]["group"])
    else:
        intercepted = outbound().wms.cancel_delivery_order(warehouse_of(f), fulfilment_id)
    now = datetime.now(timezone.utc)
    cause = f"intercept:{fulfilment_id}"

    def decide(doc):
        state = order_state(doc)
        if state.fulfilments.get(fulfilment_id) not in AT_WAREHOUSE:
            return None
        change = (lifecycle.on_intercepted if intercepted else lifecycle.on_intercept_failed)(state, fulfilment_id, now)
        # the money a cancel that is now done (or that stopped part of the order) leaves owed
        fields, timeline = refunds.with_owed_refund(doc, change_fields(doc, change, now=now), change.timeline,
                                                    change.outcomes, now, cause)
        return fields, timeline, change.outcomes

    saved, outcomes = orders.update_with(order_id, decide)
    send_pending(saved, cause=cause)
    follow_up(saved, outcomes)


def update_wms_address(order_id: str, fulfilment_id: str) -> None:
    """Send the order's current shipping address to the warehouse holding the fulfilment."""
    doc = orders.load(order_id, working=True)
    f = fulfilment_in(doc, fulfilment_id)
    if doc is not None and f is not None and f["status"] in AT_WAREHOUSE:
        outbound().wms.change_address(warehouse_of(f), fulfilment_id, doc["address"])
