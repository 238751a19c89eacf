"""Customer e-mail notifications: the periodic sweep that records and sends them, and the send
of one (services/notifications.py)."""
from __future__ import annotations

from actors import queues
from actors.declare import actor
from services import notifications


@actor(queue=queues.SYNC, time_limit=120_000, max_retries=3)
def send_notification(notification_id: str) -> None:
    notifications.send_notification(notification_id)


@actor(queue=queues.SWEEPS, time_limit=120_000, max_retries=0, periodic=True)
def sweep_notifications() -> None:
    """Record new customer notifications and send those due."""
    notifications.sweep()
