"""Deadlines of an order's life and what firing each one does.

The scheduler's sweep asks :func:`next_deadline` when to look at an order again, and at
that time asks :func:`due_action` what to do. ``due_action`` re-derives the deadline from
the current state and timestamps, so a sweep that runs late, twice, or after the order
moved on (paid, confirmed, scanned) gets ``None``: firing a timer is idempotent.

Defaults: unpaid orders cancelled 30 minutes after placed; receipt confirmed 7 days after
shipped; after-sales window closed (order closed) 15 days after completed; a WMS that has
not acknowledged a dispatch for 2 hours, or a parcel without a carrier scan for 48 hours
since pickup (or its last scan), is alerted: each raises an exception flag on the order
(``router/exceptions.py``). A stall clock starts only once the party has had its chance: the
WMS's when it took the delivery order, the carrier's when it has the parcel under a number it
can scan, again with every scan (a parcel still moving is never alarmed). Receipt and window
timers pause while an after-sales case is open and resume, from the same start, when it ends;
the receipt timer is not armed while a parcel is in an open carrier exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum

from router.dates import plus
from router.lifecycle import confirm_receipt, expire_unpaid
from router.order_state import Change, OrderCommand, OrderState, Outcome, decide, parcel_in_exception
from router.statuses import AfterSalesStatus, FulfilmentStatus, OrderStatus, PaymentMethod, PaymentStatus


class TimerAction(StrEnum):
    CANCEL_UNPAID = "cancel_unpaid"
    AUTO_CONFIRM_RECEIPT = "auto_confirm_receipt"
    CLOSE_AFTER_SALES_WINDOW = "close_after_sales_window"
    WMS_ACK_STALLED = "wms_ack_stalled"
    CARRIER_SCAN_STALLED = "carrier_scan_stalled"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: timedelta | int | float | str) -> timedelta:
    """A positive duration from a timedelta, a number of seconds, or ``"30m"`` / ``"2h"`` /
    ``"7d"`` / ``"90s"``. Raises ``ValueError`` otherwise."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            duration = timedelta(seconds=value)
        except (OverflowError, ValueError):  # too long, or not a number (nan, inf)
            raise ValueError(f"not a duration: {value!r}") from None
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        try:
            duration = timedelta(**{_UNIT[m.group(2)]: float(m.group(1))})
        except OverflowError:  # "999999999d": longer than a timedelta holds
            raise ValueError(f"not a duration: {value!r} is too long") from None
    else:
        raise ValueError(f"not a duration: {value!r}")
    if duration <= timedelta(0):
        raise ValueError(f"a deadline must be positive, got {value!r}")
    return duration


@dataclass(frozen=True)
class Deadlines:
    """How long each stage may last before its timer fires."""

    unpaid_cancel: timedelta = timedelta(minutes=30)
    auto_confirm_receipt: timedelta = timedelta(days=7)
    after_sales_window: timedelta = timedelta(days=15)
    wms_ack_stall: timedelta = timedelta(hours=2)
    carrier_scan_stall: timedelta = timedelta(hours=48)
    backorder_retry: timedelta = timedelta(minutes=15)
    backorder_cancel: timedelta = timedelta(days=7)  # backordered units waiting longer are cancelled

    @classmethod
    def for_order(
        cls, channel: str, merchant_ids: Iterable[str], overrides: Mapping | None = None
    ) -> Deadlines:
        """The deadlines for one order. ``overrides``:
        ``{"default": {...}, "channels": {channel: {...}}, "merchants": {merchant_id: {...}}}``,
        each ``{...}`` mapping field names to durations (see :func:`parse_duration`).
        Merchants override the channel, which overrides the default; when the order's
        merchants disagree, the longest wins (no timer fires before any merchant promised).
        Raises ``ValueError`` for an unknown field or a bad duration.
        """
        overrides = overrides or {}
        deadlines = cls()._with(overrides.get("default", {}))
        deadlines = deadlines._with(overrides.get("channels", {}).get(channel, {}))
        merchant_values: dict[str, timedelta] = {}
        for merchant_id in merchant_ids:
            for name, value in overrides.get("merchants", {}).get(merchant_id, {}).items():
                duration = getattr(cls()._with({name: value}), name)  # checks the name, parses
                merchant_values[name] = max(duration, merchant_values.get(name, duration))
        return deadlines._with(merchant_values)

    def _with(self, values: Mapping) -> Deadlines:
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown deadline(s): {', '.join(sorted(unknown))}")
        return replace(self, **{name: parse_duration(value) for name, value in values.items()})


@dataclass(frozen=True)
class Timestamps:
    """When things happened to the order. Per-fulfilment maps are keyed by fulfilment id;
    ``alerted_at`` by :func:`alert_key` (set by the caller when it raised a stall alert).
    ``trackable``: the fulfilments with a parcel a carrier can scan (a tracking number with a
    known carrier); None when not known (every one counts)."""

    placed_at: datetime
    shipped_at: datetime | None = None
    completed_at: datetime | None = None
    dispatched_at: Mapping[str, datetime] = field(default_factory=dict)
    picked_up_at: Mapping[str, datetime] = field(default_factory=dict)
    last_scan_at: Mapping[str, datetime] = field(default_factory=dict)
    alerted_at: Mapping[str, datetime] = field(default_factory=dict)
    trackable: frozenset[str] | None = None


@dataclass(frozen=True)
class Timer:
    """A timer: what fires, and for which fulfilment (stall timers only)."""

    action: TimerAction
    fulfilment_id: str | None = None


def alert_key(timer: Timer) -> str:
    """Where the caller records that it raised a stall alert (``Timestamps.alerted_at``)."""
    return f"{timer.action}:{timer.fulfilment_id}"


_CASE_OPEN = frozenset(AfterSalesStatus) - {
    AfterSalesStatus.NONE,
    AfterSalesStatus.SUCCEEDED,
    AfterSalesStatus.REJECTED,
}
_WITH_CARRIER = (FulfilmentStatus.SHIPPED, FulfilmentStatus.IN_TRANSIT, FulfilmentStatus.OUT_FOR_DELIVERY)


def all_deadlines(
    state: OrderState, deadlines: Deadlines, timestamps: Timestamps
) -> list[tuple[datetime, Timer]]:
    """Every timer armed in the current state, with its due time, soonest first."""
    armed: list[tuple[datetime, Timer]] = []
    case_open = state.after_sales_status in _CASE_OPEN
    if (
        state.status is OrderStatus.PENDING_PAYMENT
        and state.payment_method is PaymentMethod.ONLINE
        and state.payment_status in (PaymentStatus.UNPAID, PaymentStatus.FAILED)
    ):
        armed.append((plus(timestamps.placed_at, deadlines.unpaid_cancel), Timer(TimerAction.CANCEL_UNPAID)))
    if state.status is OrderStatus.SHIPPED and timestamps.shipped_at and not case_open \
            and not parcel_in_exception(state):  # a returned or lost parcel waits for an operator
        armed.append(
            (plus(timestamps.shipped_at, deadlines.auto_confirm_receipt), Timer(TimerAction.AUTO_CONFIRM_RECEIPT))
        )
    if state.status is OrderStatus.COMPLETED and timestamps.completed_at and not case_open:
        armed.append(
            (
                plus(timestamps.completed_at, deadlines.after_sales_window),
                Timer(TimerAction.CLOSE_AFTER_SALES_WINDOW),
            )
        )
    if state.status not in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
        for fid, status in sorted(state.fulfilments.items()):
            if status is FulfilmentStatus.DISPATCHED:
                action, since, stall = (
                    TimerAction.WMS_ACK_STALLED,
                    timestamps.dispatched_at.get(fid),
                    deadlines.wms_ack_stall,
                )
            elif status in _WITH_CARRIER and (timestamps.trackable is None or fid in timestamps.trackable):
                # the carrier's chance starts when it has the parcel, again with each scan; a parcel
                # it has no number for cannot be scanned, so it is not alarmed
                since = max((t for t in (timestamps.last_scan_at.get(fid), timestamps.picked_up_at.get(fid)) if t),
                            default=None)
                action, stall = TimerAction.CARRIER_SCAN_STALLED, deadlines.carrier_scan_stall
            else:
                continue
            timer = Timer(action, fid)
            alerted = timestamps.alerted_at.get(alert_key(timer))
            if since is not None and (alerted is None or alerted < since):
                armed.append((plus(since, stall), timer))
    return sorted(armed, key=lambda due: (due[0], due[1].action, due[1].fulfilment_id or ""))


def next_deadline(
    state: OrderState, deadlines: Deadlines, timestamps: Timestamps
) -> tuple[datetime, Timer] | None:
    """The soonest ``(due_at, timer)`` armed in the current state, or ``None`` when nothing
    is pending (a finished order, or one waiting on people with no clock running)."""
    armed = all_deadlines(state, deadlines, timestamps)
    return armed[0] if armed else None


def due_action(
    state: OrderState, timer: Timer | TimerAction, now: datetime, deadlines: Deadlines, timestamps: Timestamps
) -> Change | None:
    """What firing ``timer`` at ``now`` does, or ``None`` when it should not fire: not due
    yet, or no longer armed because the order moved on (a late or duplicate sweep).

    cancel_unpaid -> the order is cancelled (``lifecycle.expire_unpaid``); auto_confirm_receipt
    -> completed; close_after_sales_window -> closed; stalls -> a change with no field
    changes and outcome ``alert_operator`` (record ``alerted_at[alert_key(timer)] = now``).
    """
    if isinstance(timer, (TimerAction, str)):
        timer = Timer(TimerAction(timer))
    due = next((at for at, armed in all_deadlines(state, deadlines, timestamps) if armed == timer), None)
    if due is None or now < due:
        return None
    if timer.action is TimerAction.CANCEL_UNPAID:
        return expire_unpaid(state, now)
    if timer.action is TimerAction.AUTO_CONFIRM_RECEIPT:
        return confirm_receipt(state, "system", now)
    if timer.action is TimerAction.CLOSE_AFTER_SALES_WINDOW:
        return decide(
            state,
            now,
            "system",
            "timer.close_after_sales_window",
            commands=(OrderCommand.CLOSE_AFTER_SALES_WINDOW,),
        )
    stalled = timer.fulfilment_id
    assert stalled is not None, "a stall timer is armed for one fulfilment"
    return decide(
        state,
        now,
        "system",
        f"timer.{timer.action}",
        outcomes=(Outcome.ALERT_OPERATOR,),
        details={
            "fulfilment_id": timer.fulfilment_id,
            "due_at": due.isoformat(),
            "status": str(state.fulfilments[stalled]),
        },
    )


RETRY_BACKORDER = "retry_backorder"
CANCEL_BACKORDER = "cancel_backorder"
_WAITING = (OrderStatus.PENDING_PAYMENT, OrderStatus.AWAITING_SHIPMENT)


def backorder_deadline(status: OrderStatus, routing_state: str | None, since: datetime,
                       deadlines: Deadlines, waiting_units: int = 0) -> datetime | None:
    """When an order with units waiting for stock is tried again (``since``: its last routing or
    retry), to catch stock that arrived meanwhile: every unit backordered (``routing_state``
    backordered) or some of them (``waiting_units``) while routed; None for any other order
    (held, being routed, shipped, ended)."""
    if status not in _WAITING or routing_state not in ("routed", "backordered"):
        return None
    if routing_state == "backordered" or waiting_units > 0:
        return plus(since, deadlines.backorder_retry)
    return None


def backorder_cancel_deadline(status: OrderStatus, cancel_due: datetime | None) -> datetime | None:
    """When backordered units of a waiting order are cancelled: ``cancel_due`` (the first entry's
    start plus its merchant's ``backorder_cancel``, see ``router.backorders.cancel_due``)."""
    return cancel_due if status in _WAITING else None
