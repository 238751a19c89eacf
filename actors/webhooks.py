"""Outbound webhooks: the relay's periodic sweep and the delivery of one subscription's events
of one order (services/webhooks.py)."""
from __future__ import annotations

from actors import queues
from actors.declare import actor
from services import webhooks


@actor(queue=queues.SYNC, time_limit=300_000, max_retries=3)
def deliver_webhooks(subscription_id: str, order_id: str) -> None:
    webhooks.deliver(subscription_id, order_id)


@actor(queue=queues.SWEEPS, time_limit=120_000, max_retries=0, periodic=True)
def sweep_webhooks() -> None:
    """Fan out new order events and send the delivery runs that are due."""
    webhooks.sweep()
