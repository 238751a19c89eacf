"""Routing an accepted order, and re-routing a fulfilment the warehouse could not ship."""
from __future__ import annotations

from actors import queues
from actors.declare import actor
from services import rerouting, routing


@actor(queue=queues.ORDERS, time_limit=60_000)
def process_order(order_id: str) -> None:
    routing.process_order(order_id)


@actor(queue=queues.ORDERS, time_limit=60_000)
def reroute_failed(order_id: str, fulfilment_id: str) -> None:
    rerouting.reroute_failed(order_id, fulfilment_id)
