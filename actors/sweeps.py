"""Periodic sweeps, sent by ``orderrouter scheduler``: the reconciler re-sends steps that stalled.

Every step is idempotent, so re-sending one that is merely slow costs a duplicate message and
nothing else. Sweeps work in bounded batches; several schedulers running at once are harmless.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import dramatiq
import structlog

from actors import queues
from actors.broker import harvest_dead_letters
from documents import inbox, orders
from router.statuses import FulfilmentStatus, OrderStatus, RoutingState

log = structlog.get_logger(__name__)
STALL_AFTER = timedelta(seconds=60)
BATCH = 500
SETTLE_SECONDS = 60  # well under the sweep's time limit
INBOX_BATCH = 100  # the embedded server's cost per document doubles with an $in of 500 (bench/dbops.py)
EVENT_ACTORS = {"payment": "apply_payment", "wms": "apply_wms_event", "carrier": "apply_carrier_event"}


@dramatiq.actor(queue_name=queues.SWEEPS, time_limit=120_000, max_retries=0, periodic=True)
def reconcile() -> dict:
    """Re-send routing for orders stuck in ``received``, dispatch for paid orders whose reserved
    fulfilments never went out, pending channel notices, and the actor for inbox events not
    known to be applied (see :func:`settle_inbox`); and it moves dead letters that only reached
    RabbitMQ's ``.XQ`` queues (the database was down when they failed) into the operators' list.
    Each is stamped ``resent_at`` and sent again only once that is older than ``STALL_AFTER``: a
    backlog is nudged once per window, not flooded every sweep. While a kind's queue still has
    messages waiting, its steps are not re-sent at all: they may only be queued, and re-sending
    them would feed the backlog (and, on the embedded server, reading thousands of waiting inbox
    entries every sweep kept the 5,000-order chaos run's database busy past its clients' timeouts)."""
    now = datetime.now(timezone.utc)
    cutoff = now - STALL_AFTER
    # never re-sent, or not since the cutoff; not a top-level $or, which the embedded server
    # answers by decoding the whole collection (measured on 5,000 orders: 81 ms against 6 ms)
    quiet = {"resent_at": {"$not": {"$gte": cutoff}}}
    counts = {"routing": 0, "dispatch": 0, "events": 0, "events_closed": 0, "outbox": 0, "dead_letters": 0}
    broker = dramatiq.get_broker()
    stuck = {"routing.state": RoutingState.RECEIVED.value, "updated_at": {"$lt": cutoff}, **quiet}
    stalled = {"status": OrderStatus.AWAITING_SHIPMENT.value, "updated_at": {"$lt": cutoff},
               "fulfilments.status": FulfilmentStatus.RESERVED.value, **quiet}
    waiting = {q for q in (queues.ORDERS, queues.EVENTS, queues.SYNC) if backlogged(broker, q)}
    for key, query in (("routing", stuck), ("dispatch", stalled)):
        if queues.ORDERS in waiting:  # a step older than the cutoff may just be queued: not stalled
            break
        ids = orders.ids_in_state(query, BATCH)
        for order_id in ids:  # a routed order's replay re-sends its dispatches
            broker.get_actor("process_order").send(order_id)
        counts[key] += len(ids)
        orders.stamp_resent(ids, now)
    pending = [] if queues.SYNC in waiting else list(orders.collection().find(
        {"outbox.state": "pending", "updated_at": {"$lt": cutoff}, **quiet}, {"outbox": 1}).limit(BATCH))
    for doc in pending:
        for entry in doc["outbox"]:
            if entry["state"] == "pending":
                broker.get_actor("sync_channel").send(doc["_id"], entry["id"])
                counts["outbox"] += 1
    orders.stamp_resent([d["_id"] for d in pending], now)
    if queues.EVENTS not in waiting:
        counts["events_closed"], counts["events"] = settle_inbox(now, cutoff)
    counts["dead_letters"] = harvest_dead_letters(queues.ALL, BATCH)
    if any(counts.values()):
        log.info("reconciled", **counts)
    return counts


def backlogged(broker, queue_name: str) -> bool:
    """Whether messages wait in ``queue_name`` (RabbitMQ only; False when the count cannot be
    read, so the reconciler errs on re-sending). Its delay queue does not count: a message
    retrying there says nothing of the others, and may retry for hours."""
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    if not isinstance(broker, RabbitmqBroker):
        return False
    try:
        broker.declare_queue(queue_name, ensure=True)
        return broker.channel.queue_declare(queue_name, passive=True).method.message_count > 0
    except Exception:  # noqa: BLE001 - the broker restarting: fall back to re-sending
        log.warning("queue_depth_unknown", queue=queue_name, exc_info=True)
        try:
            del broker.connection  # the next use reconnects
        except Exception:  # noqa: BLE001
            pass
        return False


def settle_inbox(now: datetime, cutoff: datetime) -> tuple[int, int]:
    """Inbox entries still unprocessed at ``cutoff``: close, in one update per batch, those whose
    orders record them (their actor died after applying the event, before closing the entry), and
    send the actor again for the others, ``INBOX_BATCH`` at a time. Works through batches for
    up to ``SETTLE_SECONDS``.
    Returns ``(closed, re-sent)``."""
    from actors.events import recorded

    broker = dramatiq.get_broker()
    closed = resent = 0
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        events = inbox.unprocessed_before(cutoff, INBOX_BATCH)
        owners = orders.load_many(sorted({e["order_id"] for e in events if e.get("order_id")}),
                                  {"fulfilments.id": 1, "fulfilments.tracking.event_id": 1, "payments": 1})
        done = {e["_id"] for e in events if recorded(e, owners.get(e.get("order_id")))}
        inbox.close(sorted(done))
        stalled = [e for e in events if e["_id"] not in done]
        for event in stalled:
            broker.get_actor(EVENT_ACTORS[event["kind"]]).send(event["_id"])
        inbox.stamp_resent([e["_id"] for e in stalled], now)
        closed, resent = closed + len(done), resent + len(stalled)
        if len(events) < INBOX_BATCH or time.monotonic() > deadline:
            return closed, resent


from actors.timers import sweep_timers  # noqa: E402


@dramatiq.actor(queue_name=queues.SWEEPS, time_limit=120_000, max_retries=0, periodic=True)
def sweep_low_stock() -> dict:
    """Record (once per crossing) and post low-stock alerts; retry posts that failed."""
    from documents import alerts

    return alerts.sweep_low_stock()


SCHEDULED = (reconcile, sweep_timers, sweep_low_stock)
