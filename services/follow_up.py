"""What to do after a lifecycle change has been saved: the ``Outcome``s router/ asks for.

Every follow-up is idempotent (hold keys, idempotency keys, guarded updates), so running one
twice after a replayed message is harmless.
"""
from __future__ import annotations

from collections.abc import Callable

import structlog

from documents import reservations
from router.fulfilment_flow import AT_WAREHOUSE
from router.order_state import Outcome
from router.statuses import FulfilmentStatus, RoutingState
from services.messages import InterceptFulfilment, ProcessOrder, RerouteFailed, Step, UpdateWmsAddress, send
from services.routing import send_dispatches

log = structlog.get_logger(__name__)


def follow_up(doc: dict | None, outcomes) -> None:
    """Act on ``outcomes`` for the saved order ``doc``."""
    if doc is None or not outcomes:
        return
    outcomes = set(outcomes)
    if Outcome.RELEASE_STOCK in outcomes:
        released = reservations.release_all(reservations.holds_of_order(doc, frozenset({FulfilmentStatus.CANCELLED.value})))
        log.info("stock_released", order_id=doc["_id"], holds=released)
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
    if Outcome.ALERT_OPERATOR in outcomes or Outcome.REFUND_DUE in outcomes:
        log.warning("operator_attention", order_id=doc["_id"], outcomes=sorted(str(o) for o in outcomes))


def _send_each(doc: dict, command: Callable[[str, str], Step], wanted: Callable[[dict], bool]) -> None:
    """Send ``command(order_id, fulfilment_id)`` for each of the order's fulfilments ``wanted``."""
    for f in doc["fulfilments"]:
        if wanted(f):
            send(command(doc["_id"], f["id"]))


def _at_warehouse(f: dict) -> bool:
    return f["status"] in AT_WAREHOUSE


def _to_reroute(f: dict) -> bool:
    return f["status"] == FulfilmentStatus.DISPATCH_FAILED and bool(f.get("reroute"))
