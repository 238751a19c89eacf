"""What to do after a lifecycle change has been saved: the ``Outcome``s router/ asks for.

Every follow-up is idempotent (hold keys, idempotency keys, guarded updates), so running one
twice after a replayed message is harmless.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import structlog

from documents import reservations
from router.fulfilment_flow import AT_WAREHOUSE
from router.order_state import Outcome
from router.statuses import FulfilmentStatus, RoutingState
from services import placing, refunds, waiting
from services.messages import InterceptFulfilment, ProcessOrder, RerouteFailed, Step, UpdateWmsAddress, send
from services.routing import send_dispatches

log = structlog.get_logger(__name__)


def follow_up(doc: dict | None, outcomes) -> None:
    """Act on ``outcomes`` for the saved order ``doc``."""
    if doc is None or not outcomes:
        return
    outcomes = set(outcomes)
    if Outcome.RELEASE_STOCK in outcomes:
        _release(doc)
    if Outcome.READY_FOR_DISPATCH in outcomes:
        send_dispatches(doc)
    if Outcome.INTERCEPT_REQUESTED in outcomes:
        _send_each(doc, InterceptFulfilment, _at_warehouse)
    if Outcome.UPDATE_WMS_ADDRESS in outcomes:
        _send_each(doc, UpdateWmsAddress, _at_warehouse)
    if Outcome.RESUME_ROUTING in outcomes and doc["routing"]["state"] == RoutingState.RECEIVED:
        send(ProcessOrder(doc["_id"]))
    if Outcome.REROUTE in outcomes:
        _send_each(doc, RerouteFailed, _to_reroute)
    if Outcome.REFUND_DUE in outcomes:  # opened by the change's own update where it could; else here
        refunds.open_owed(doc["_id"])
    if Outcome.ALERT_OPERATOR in outcomes:
        log.warning("operator_attention", order_id=doc["_id"], outcomes=sorted(str(o) for o in outcomes))


def _release(doc: dict) -> None:
    """The cancelled fulfilments' stock and warehouse capacity go back; orders waiting for that
    stock are woken."""
    cancelled = frozenset({FulfilmentStatus.CANCELLED.value})
    holds = reservations.holds_of_order(doc, cancelled)
    released = reservations.release_all(holds)
    placing.release_capacity(doc, cancelled, datetime.now(timezone.utc))
    log.info("stock_released", order_id=doc["_id"], holds=released)
    if released:
        waiting.stock_arrived({h.sku for h in holds})


def _send_each(doc: dict, command: Callable[[str, str], Step], wanted: Callable[[dict], bool]) -> None:
    """Send ``command(order_id, fulfilment_id)`` for each of the order's fulfilments ``wanted``."""
    for f in doc["fulfilments"]:
        if wanted(f):
            send(command(doc["_id"], f["id"]))


def _at_warehouse(f: dict) -> bool:
    return f["status"] in AT_WAREHOUSE


def _to_reroute(f: dict) -> bool:
    return f["status"] == FulfilmentStatus.DISPATCH_FAILED and bool(f.get("reroute"))
