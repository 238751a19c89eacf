"""Talking to warehouses and carriers about one fulfilment."""
from __future__ import annotations

from dramatiq.middleware import CurrentMessage

from actors import queues
from actors.declare import actor
from config import get_settings
from services import dispatch, intercepts

# The time limit of an actor that may dispatch: this one, and those that dispatch the fulfilments of
# the order they made ready themselves (services.dispatch.dispatch_reserved: routing, a payment, a
# backorder retry, a re-route). One dispatch is two calls (the carrier's booking, the WMS's delivery
# order) of up to OUTBOUND_ATTEMPTS tries of HTTP_TIMEOUT each (3 x 5 s by default) with backoff and
# Retry-After waits (up to 10 s each) between them; a sender starts one within the first
# INLINE_BUDGET (10 s) of its dispatching, after its own work.
DISPATCH_TIME_LIMIT_MS = 120_000


@actor(queue=queues.DISPATCH, time_limit=DISPATCH_TIME_LIMIT_MS)
def dispatch_fulfilment(order_id: str, fulfilment_id: str, retry: bool = False) -> None:
    dispatch.dispatch_fulfilment(order_id, fulfilment_id, retry, last_attempt=_last_attempt())


@actor(queue=queues.DISPATCH, time_limit=60_000)
def register_tracking(order_id: str, fulfilment_id: str, tracking_number: str | None = None,
                      carrier_id: str | None = None) -> None:
    dispatch.register_tracking(order_id, fulfilment_id, tracking_number, carrier_id)


@actor(queue=queues.DISPATCH, time_limit=60_000)
def intercept_fulfilment(order_id: str, fulfilment_id: str) -> None:
    intercepts.intercept_fulfilment(order_id, fulfilment_id)


@actor(queue=queues.DISPATCH, time_limit=60_000)
def update_wms_address(order_id: str, fulfilment_id: str) -> None:
    intercepts.update_wms_address(order_id, fulfilment_id)


def _last_attempt() -> bool:
    """Whether this message will not be retried again (or runs outside a worker)."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return True
    return message.options.get("retries", 0) >= get_settings().max_retries
