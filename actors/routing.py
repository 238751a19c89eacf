"""Routing an accepted order, re-routing a fulfilment the warehouse could not ship, and trying
backordered units again when their stock arrives."""
from __future__ import annotations

from actors import queues
from actors.declare import actor
from actors.dispatch import DISPATCH_TIME_LIMIT_MS
from services import backorders, rerouting, routing


@actor(queue=queues.ORDERS, time_limit=DISPATCH_TIME_LIMIT_MS)  # they dispatch what they make ready
def process_order(order_id: str) -> None:
    routing.process_order(order_id)


@actor(queue=queues.ORDERS, time_limit=DISPATCH_TIME_LIMIT_MS)  # they dispatch what they make ready
def reroute_failed(order_id: str, fulfilment_id: str) -> None:
    rerouting.reroute_failed(order_id, fulfilment_id)


@actor(queue=queues.ORDERS, time_limit=DISPATCH_TIME_LIMIT_MS)  # they dispatch what they make ready
def retry_backorder(order_id: str) -> None:
    backorders.retry(order_id)
