"""Periodic sweeps, sent by ``orderrouter scheduler``: the reconciler re-sends steps that stalled.

Every step is idempotent, so re-sending one that is merely slow costs a duplicate message and
nothing else. Sweeps work in bounded batches; several schedulers running at once are harmless.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

import structlog

from documents import alerts, dead_letters, inbox, orders
from services.events import recorded
from services.messages import EVENT_STEPS, ProcessOrder, SyncChannel, send
from services.ports import outbound

log = structlog.get_logger(__name__)
STALL_AFTER = timedelta(seconds=60)
BATCH = 500
SETTLE_SECONDS = 60  # well under the sweep's time limit
INBOX_BATCH = 100  # the embedded server's cost per document doubles with an $in of 500 (bench/dbops.py)
ROUTING, EVENTS, SYNC = "routing", "events", "sync"  # kinds of step whose queue may have a backlog


def reconcile(now: datetime, backlogged: frozenset[str] = frozenset()) -> dict:
    """Re-send routing for orders stuck in ``received``, dispatch for paid orders whose reserved
    fulfilments never went out, pending channel notices, and the actor for inbox events not
    known to be applied (see :func:`settle_inbox`). Each is stamped ``resent_at`` and sent again
    only once that is older than ``STALL_AFTER``: a backlog is nudged once per window, not flooded
    every sweep. ``backlogged`` names the kinds (``ROUTING``, ``EVENTS``, ``SYNC``) whose queue
    still has messages waiting: their steps are not re-sent at all, since they may only be queued
    and re-sending them would feed the backlog (and, on the embedded server, reading thousands of
    waiting inbox entries every sweep kept the 5,000-order chaos run's database busy past its
    clients' timeouts). An order with a dead letter not yet replayed is not re-sent (counted as
    ``held``): its message failed for good, and re-sending it would only fail again and add a
    letter per sweep; the operator's replay sends it. Held ones are stamped too, so that they
    leave the batch to the others for a window. Returns counts."""
    cutoff = now - STALL_AFTER
    counts = {"routing": 0, "dispatch": 0, "events": 0, "events_closed": 0, "outbox": 0, "held": 0}
    if ROUTING not in backlogged:  # a step older than the cutoff may just be queued: not stalled
        for key, ids in (("routing", orders.stuck_in_routing(cutoff, BATCH)),
                         ("dispatch", orders.stalled_dispatch(cutoff, BATCH))):
            held = dead_letters.orders_held(ids)
            for order_id in ids:  # a routed order's replay re-sends its dispatches
                if order_id not in held:
                    send(ProcessOrder(order_id))
            counts[key] += len(ids) - len(held)
            counts["held"] += len(held)
            orders.stamp_resent(ids, now)
    pending = [] if SYNC in backlogged else orders.pending_outbox(cutoff, BATCH)
    held = dead_letters.orders_held([d["_id"] for d in pending])
    counts["held"] += len(held)
    for doc in pending:
        if doc["_id"] in held:
            continue
        for entry in doc["outbox"]:
            if entry["state"] == "pending":
                send(SyncChannel(doc["_id"], entry["id"]))
                counts["outbox"] += 1
    orders.stamp_resent([d["_id"] for d in pending], now)
    if EVENTS not in backlogged:
        counts["events_closed"], counts["events"] = settle_inbox(now, cutoff)
    return counts


def settle_inbox(now: datetime, cutoff: datetime) -> tuple[int, int]:
    """Inbox entries still unprocessed at ``cutoff``: close, in one update per batch, those whose
    orders record them (their actor died after applying the event, before closing the entry), and
    send the actor again for the others, ``INBOX_BATCH`` at a time, except those whose message is a
    dead letter not replayed yet (the operator's replay sends it). Works through batches for up to
    ``SETTLE_SECONDS``.
    Returns ``(closed, re-sent)``."""
    closed = resent = 0
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        events = inbox.unprocessed_before(cutoff, INBOX_BATCH)
        owners = orders.load_many(sorted({e["order_id"] for e in events if e.get("order_id")}),
                                  {"fulfilments.id": 1, "fulfilments.tracking.event_id": 1, "payments": 1})
        done = {e["_id"] for e in events if recorded(e, owners.get(e["order_id"]) if e.get("order_id") else None)}
        inbox.close(sorted(done))
        stalled = [e for e in events if e["_id"] not in done]
        held = dead_letters.messages_held([e["_id"] for e in stalled])
        for event in stalled:
            if event["_id"] not in held:
                send(EVENT_STEPS[event["kind"]](event["_id"]))
        inbox.stamp_resent([e["_id"] for e in stalled], now)
        closed, resent = closed + len(done), resent + len(stalled) - len(held)
        if len(events) < INBOX_BATCH or time.monotonic() > deadline:
            return closed, resent


def low_stock_notifier():
    """How an alert is posted, or None when no webhook is configured."""
    client = outbound().alerts
    return client.post_low_stock if client.enabled else None


def check_low_stock(sku: str, warehouse_id: str) -> dict | None:
    """Look at one stock level now (after an adjustment): record and post its alert if it fell low."""
    return alerts.check_low_stock(sku, warehouse_id, notify=low_stock_notifier())


def sweep_low_stock() -> dict:
    """Record (once per crossing) and post low-stock alerts; retry posts that failed."""
    return alerts.sweep_low_stock(notify=low_stock_notifier())
