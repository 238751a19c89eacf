"""Periodic sweeps, sent by ``orderrouter scheduler``: the reconciler re-sends steps that stalled.

Every step is idempotent, so re-sending one that is merely slow costs a duplicate message and
nothing else. Sweeps work in bounded batches; several schedulers running at once are harmless.
"""
from __future__ import annotations

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
EVENT_ACTORS = {"payment": "apply_payment", "wms": "apply_wms_event", "carrier": "apply_carrier_event"}


@dramatiq.actor(queue_name=queues.SWEEPS, time_limit=120_000, max_retries=0)
def reconcile() -> dict:
    """Re-send routing for orders stuck in ``received``, dispatch for paid orders whose reserved
    fulfilments never went out, pending channel notices, and the actor for inbox events never
    processed; and it moves dead letters that only reached RabbitMQ's ``.XQ`` queues (the
    database was down when they failed) into the operators' list. Each is stamped ``resent_at`` and sent again only once that is older than
    ``STALL_AFTER``: a backlog is nudged once per window, not flooded every sweep."""
    now = datetime.now(timezone.utc)
    cutoff = now - STALL_AFTER
    quiet = {"$or": [{"resent_at": None}, {"resent_at": {"$lt": cutoff}}]}
    counts = {"routing": 0, "dispatch": 0, "events": 0, "outbox": 0, "dead_letters": 0}
    broker = dramatiq.get_broker()
    stuck = {"routing.state": RoutingState.RECEIVED.value, "updated_at": {"$lt": cutoff}, **quiet}
    stalled = {"status": OrderStatus.AWAITING_SHIPMENT.value, "updated_at": {"$lt": cutoff},
               "fulfilments.status": FulfilmentStatus.RESERVED.value, **quiet}
    for key, query in (("routing", stuck), ("dispatch", stalled)):
        ids = orders.ids_in_state(query, BATCH)
        for order_id in ids:  # a routed order's replay re-sends its dispatches
            broker.get_actor("process_order").send(order_id)
        counts[key] += len(ids)
        orders.stamp_resent(ids, now)
    pending = list(orders.collection().find({"outbox.state": "pending", "updated_at": {"$lt": cutoff}, **quiet},
                                            {"outbox": 1}).limit(BATCH))
    for doc in pending:
        for entry in doc["outbox"]:
            if entry["state"] == "pending":
                broker.get_actor("sync_channel").send(doc["_id"], entry["id"])
                counts["outbox"] += 1
    orders.stamp_resent([d["_id"] for d in pending], now)
    events = inbox.unprocessed_before(cutoff, BATCH)
    for event in events:
        broker.get_actor(EVENT_ACTORS[event["kind"]]).send(event["_id"])
    counts["events"] = len(events)
    inbox.stamp_resent([e["_id"] for e in events], now)
    counts["dead_letters"] = harvest_dead_letters(queues.ALL, BATCH)
    if any(counts.values()):
        log.info("reconciled", **counts)
    return counts


from actors.timers import sweep_timers  # noqa: E402


@dramatiq.actor(queue_name=queues.SWEEPS, time_limit=120_000, max_retries=0)
def sweep_low_stock() -> dict:
    """Record (once per crossing) and post low-stock alerts; retry posts that failed."""
    from documents import alerts

    return alerts.sweep_low_stock()


SCHEDULED = (reconcile, sweep_timers, sweep_low_stock)
