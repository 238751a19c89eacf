"""Timers: an order's next deadline is stored on it (``due_at``, ``due_timer``); the scheduler's
sweep finds the due ones in batches and fires each with a guarded update. Firing re-derives the
deadline from the current state (router/timers.py), so a late, repeated or concurrent sweep, or an
order that moved on in time, does nothing."""
from __future__ import annotations

from datetime import datetime, timezone

import structlog

from documents import dead_letters, orders
from documents.converters import change_fields, order_state
from documents.schedule import alert_key, deadlines_for, timestamps_of
from router.exceptions import ExceptionKind, timeline_entries, with_flag
from router.timers import CANCEL_BACKORDER, RETRY_BACKORDER, Timer, TimerAction, due_action
from services import backorders, merging
from services.follow_up import follow_up
from services.messages import FireTimer, send

log = structlog.get_logger(__name__)
BATCH = 500
STALL_REASONS = {TimerAction.WMS_ACK_STALLED: "no_wms_acknowledgement",
                 TimerAction.CARRIER_SCAN_STALLED: "no_carrier_scan"}


def due_orders(now: datetime, limit: int = BATCH) -> list[str]:
    return orders.due_ids(now, limit)


BACKORDER_TIMERS = {RETRY_BACKORDER: backorders.retry, CANCEL_BACKORDER: backorders.cancel_expired}


def fire(order_id: str, now: datetime) -> bool:
    """Fire the order's due timer at ``now``; True when it changed the order (a backorder retry:
    when it placed units; see services/backorders.py, which the backorder timers run)."""
    fired: dict[str, str] = {}
    backorder: list[str] = []

    def decide(doc):
        fired.clear()  # decide runs again after a conflict: only the attempt that lands counts
        timer_doc = doc.get("due_timer")
        if not timer_doc or doc.get("due_at") is None or doc["due_at"] > now:
            return None
        if timer_doc["action"] in BACKORDER_TIMERS:  # retry or cancel: their service updates the order
            backorder[:] = [timer_doc["action"]]
            return None
        timer = Timer(TimerAction(timer_doc["action"]), timer_doc.get("fulfilment_id"))
        change = due_action(order_state(doc), timer, now, deadlines_for(doc), timestamps_of(doc))
        if change is None:  # moved on in time: just re-arm the next deadline
            return {}, [], ()
        fields = change_fields(doc, change, now=now)
        timeline = list(change.timeline)
        if timer.action in STALL_REASONS:  # the order is flagged for an operator, with why and since when
            fields["alerted_at"] = {**(doc.get("alerted_at") or {}), alert_key(timer): now}
            details = (change.timeline[0].get("details") or {}) if change.timeline else {}
            fields["exceptions"] = with_flag(doc.get("exceptions"), ExceptionKind(timer.action.value),
                                             STALL_REASONS[timer.action], now, fulfilment_id=timer.fulfilment_id,
                                             status=details.get("status"), due_at=details.get("due_at"))
            timeline += timeline_entries(doc.get("exceptions"), fields["exceptions"], now, "system", doc["status"])
        fired["timer"] = timer.action.value
        return fields, timeline, change.outcomes

    doc, outcomes = orders.update_with(order_id, decide)
    if backorder:
        done = BACKORDER_TIMERS[backorder[0]](order_id, now)
        log.info("timer_fired", order_id=order_id, timer=backorder[0], changed=done)
        return done
    follow_up(doc, outcomes)
    if fired:
        log.info("timer_fired", order_id=order_id, timer=fired["timer"])
    return bool(fired)


def fire_timer(order_id: str) -> None:
    fire(order_id, datetime.now(timezone.utc))


def sweep_timers() -> int:
    """Send ``fire_timer`` for every order whose deadline has passed (one batch per sweep), but
    not for one with a dead letter not replayed yet, as the reconciler (services/sweeps.py): a
    timer that failed for good would only fail again and add a letter per sweep; the operator's
    replay goes first. Also releases the fulfilments held for an order merge whose window has
    closed (services/merging.py)."""
    now = datetime.now(timezone.utc)
    merging.release_holds(now)
    due = due_orders(now)
    held = dead_letters.orders_held(due)
    for order_id in due:
        if order_id not in held:
            send(FireTimer(order_id))
    if due:
        log.info("timers_due", count=len(due))
    return len(due)
