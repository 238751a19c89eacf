"""Events from outside (payments, WMS acknowledgements, carrier scans), applied to orders."""
from __future__ import annotations

from actors import queues
from actors.declare import actor
from actors.dispatch import DISPATCH_TIME_LIMIT_MS
from services import events


@actor(queue=queues.EVENTS, time_limit=DISPATCH_TIME_LIMIT_MS)  # it dispatches the order it made ready
def apply_payment(event_key: str, event: dict | None = None) -> None:
    events.apply_payment(event_key, event)


@actor(queue=queues.EVENTS, time_limit=60_000)
def apply_wms_event(event_key: str, event: dict | None = None) -> None:
    """``event`` (order_id, source, payload) rides in the message; replays load it from the inbox."""
    events.apply_wms_event(event_key, event)


@actor(queue=queues.EVENTS, time_limit=60_000)
def apply_carrier_event(event_key: str, event: dict | None = None) -> None:
    events.apply_carrier_event(event_key, event)
