"""Timers and the periodic sweeps ``orderrouter scheduler`` sends (``periodic=True``: a failed run
is logged, and the next tick runs it again; sweeps return nothing, there is no result backend)."""
from __future__ import annotations

import contextlib
from datetime import datetime, timezone

import dramatiq
import structlog
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from actors import queues
from actors.broker import harvest_dead_letters
from actors.declare import actor
from actors.dispatch import DISPATCH_TIME_LIMIT_MS
from actors.notifications import sweep_notifications
from actors.webhooks import sweep_webhooks
from config import get_settings
from services import sweeps, timers

log = structlog.get_logger(__name__)
BACKLOG_KINDS = {queues.ORDERS: sweeps.ROUTING, queues.EVENTS: sweeps.EVENTS, queues.SYNC: sweeps.SYNC}


@actor(queue=queues.SWEEPS, time_limit=DISPATCH_TIME_LIMIT_MS)  # a backorder retry dispatches what it placed
def fire_timer(order_id: str) -> None:
    timers.fire_timer(order_id)


@actor(queue=queues.SWEEPS, time_limit=120_000, max_retries=0, periodic=True)
def sweep_timers() -> None:
    """Send ``fire_timer`` for every order whose deadline has passed (one batch per sweep)."""
    timers.sweep_timers()


@actor(queue=queues.SWEEPS, time_limit=120_000, max_retries=0, periodic=True)
def reconcile() -> None:
    """Re-send stalled steps and harvest dead letters (:func:`reconcile_once`)."""
    reconcile_once()


def reconcile_once() -> dict:
    """Re-send stalled steps (services.sweeps.reconcile), skipping kinds whose queue still has
    messages waiting, and move dead letters that only reached RabbitMQ's ``.XQ`` queues (the
    database was down when they failed) into the operators' list. Returns counts."""
    broker = dramatiq.get_broker()
    prefix = get_settings().queue_prefix
    waiting = frozenset(kind for queue, kind in BACKLOG_KINDS.items() if backlogged(broker, queues.name(prefix, queue)))
    counts = sweeps.reconcile(datetime.now(timezone.utc), waiting)
    counts["dead_letters"] = harvest_dead_letters(queues.names(prefix), sweeps.BATCH)
    if any(counts.values()):
        log.info("reconciled", **counts)
    return counts


@actor(queue=queues.SWEEPS, time_limit=120_000, max_retries=0, periodic=True)
def sweep_low_stock() -> None:
    """Record (once per crossing) and post low-stock alerts; retry posts that failed."""
    sweeps.sweep_low_stock()


def backlogged(broker, queue_name: str) -> bool:
    """Whether messages wait in ``queue_name`` (RabbitMQ only; False when the count cannot be
    read, so the reconciler errs on re-sending). Its delay queue does not count: a message
    retrying there says nothing of the others, and may retry for hours."""
    if not isinstance(broker, RabbitmqBroker):
        return False
    try:
        broker.declare_queue(queue_name, ensure=True)
        return broker.channel.queue_declare(queue_name, passive=True).method.message_count > 0
    except Exception:  # noqa: BLE001 - the broker restarting: fall back to re-sending
        log.warning("queue_depth_unknown", queue=queue_name, exc_info=True)
        with contextlib.suppress(Exception):  # whatever the old connection raises on close
            del broker.connection  # the next use reconnects
        return False


SCHEDULED = (reconcile, sweep_timers, sweep_low_stock, sweep_webhooks, sweep_notifications)
