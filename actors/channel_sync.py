"""Delivering the order's outbox notices to its channel."""
from __future__ import annotations

from actors import queues
from actors.declare import actor
from services import channel_sync


@actor(queue=queues.SYNC, time_limit=60_000)
def sync_channel(order_id: str, entry_id: str) -> None:
    channel_sync.sync_channel(order_id, entry_id)
