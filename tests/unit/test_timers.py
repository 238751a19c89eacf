"""Timers: each fires at its due time, not before, and is a no-op once the order moved on."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from router.lifecycle import OrderState, Outcome, on_fulfilment_event, on_payment
from router.statuses import AfterSalesStatus, PaymentMethod, ShipmentStatus
from router.statuses import FulfilmentStatus as F
from router.statuses import OrderStatus as O
from router.statuses import PaymentStatus as P
from router.statuses import TrackingStatus as T
from router.timers import (
    Deadlines,
    Timer,
    TimerAction,
    Timestamps,
    alert_key,
    all_deadlines,
    due_action,
    next_deadline,
    parse_duration,
)

pytestmark = pytest.mark.unit

PLACED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
TICK = timedelta(microseconds=1)
D = Deadlines()


def unpaid() -> OrderState:
    return OrderState("o1", payable=Decimal(10), fulfilments={"o1-F1": F.RESERVED})


def shipped(**overrides) -> OrderState:
    values = dict(
        order_id="o1",
        status=O.SHIPPED,
        payment_status=P.PAID,
        paid_amount=Decimal(10),
        payable=Decimal(10),
        shipment_status=ShipmentStatus.DELIVERED,
        fulfilments={"o1-F1": F.DELIVERED},
    )
    return OrderState(**{**values, **overrides})


# --- Deadlines ----------------------------------------------------------------------------


def test_default_deadlines():
    assert (
        D.unpaid_cancel,
        D.auto_confirm_receipt,
        D.after_sales_window,
        D.wms_ack_stall,
        D.carrier_scan_stall,
    ) == (
        timedelta(minutes=30),
        timedelta(days=7),
        timedelta(days=15),
        timedelta(hours=2),
        timedelta(hours=48),
    )


def test_channel_and_merchant_overrides_merchants_longest_wins():
    overrides = {
        "default": {"unpaid_cancel": "20m"},
        "channels": {"taobao": {"unpaid_cancel": "15m", "auto_confirm_receipt": "10d"}},
        "merchants": {"m1": {"unpaid_cancel": "45m"}, "m2": {"unpaid_cancel": 3600}},
    }
    assert Deadlines.for_order("shopify", [], overrides).unpaid_cancel == timedelta(minutes=20)
    taobao = Deadlines.for_order("taobao", [], overrides)
    assert (taobao.unpaid_cancel, taobao.auto_confirm_receipt) == (timedelta(minutes=15), timedelta(days=10))
    both = Deadlines.for_order("taobao", ["m1", "m2"], overrides)
    assert (both.unpaid_cancel, both.auto_confirm_receipt) == (timedelta(hours=1), timedelta(days=10))


@pytest.mark.parametrize(
    "bad",
    [
        {"default": {"unpaid": "1m"}},
        {"default": {"unpaid_cancel": "soon"}},
        {"merchants": {"m1": {"wms_ack_stall": 0}}},
    ],
)
def test_bad_overrides_are_refused(bad):
    with pytest.raises(ValueError):
        Deadlines.for_order("web", ["m1"], bad)


def test_parse_duration():
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration(timedelta(days=1)) == timedelta(days=1)


# --- unpaid cancel --------------------------------------------------------------------------


def test_unpaid_order_is_cancelled_at_its_deadline_not_before():
    stamps = Timestamps(placed_at=PLACED)
    due_at, timer = next_deadline(unpaid(), D, stamps)
    assert (due_at, timer) == (PLACED + timedelta(minutes=30), Timer(TimerAction.CANCEL_UNPAID))
    assert due_action(unpaid(), timer, due_at - TICK, D, stamps) is None
    change = due_action(unpaid(), timer, due_at, D, stamps)
    assert change.fields["status"] is O.CANCELLED
    assert change.fulfilments == {"o1-F1": F.CANCELLED} and Outcome.RELEASE_STOCK in change.outcomes
    assert change.timeline[0]["actor"] == "system"


def test_unpaid_timer_is_a_no_op_once_paid_and_on_a_duplicate_sweep():
    stamps = Timestamps(placed_at=PLACED)
    paid = on_payment(unpaid(), "paid", Decimal(10), PLACED + timedelta(minutes=29)).apply(unpaid())
    late = PLACED + timedelta(hours=1)
    assert due_action(paid, TimerAction.CANCEL_UNPAID, late, D, stamps) is None
    cancelled = due_action(unpaid(), TimerAction.CANCEL_UNPAID, late, D, stamps).apply(unpaid())
    assert due_action(cancelled, TimerAction.CANCEL_UNPAID, late, D, stamps) is None
    assert next_deadline(cancelled, D, stamps) is None


def test_failed_payment_keeps_the_unpaid_timer():
    state = OrderState("o1", payment_status=P.FAILED)
    assert next_deadline(state, D, Timestamps(placed_at=PLACED))[1].action is TimerAction.CANCEL_UNPAID


def test_cash_on_delivery_orders_have_no_unpaid_timer():
    state = OrderState("o1", payment_method=PaymentMethod.CASH_ON_DELIVERY)
    assert next_deadline(state, D, Timestamps(placed_at=PLACED)) is None


# --- auto-confirm and after-sales window ---------------------------------------------------


def test_receipt_is_confirmed_seven_days_after_shipping():
    stamps = Timestamps(placed_at=PLACED, shipped_at=PLACED + timedelta(days=1))
    due_at, timer = next_deadline(shipped(), D, stamps)
    assert (due_at, timer.action) == (PLACED + timedelta(days=8), TimerAction.AUTO_CONFIRM_RECEIPT)
    assert due_action(shipped(), timer, due_at - TICK, D, stamps) is None
    change = due_action(shipped(), timer, due_at, D, stamps)
    assert change.fields["status"] is O.COMPLETED
    assert change.timeline[0]["event"] == "order.auto_confirm_receipt"


def test_auto_confirm_is_a_no_op_when_the_customer_confirmed_first():
    stamps = Timestamps(placed_at=PLACED, shipped_at=PLACED, completed_at=PLACED + timedelta(days=2))
    completed = shipped(status=O.COMPLETED)
    assert (
        due_action(completed, TimerAction.AUTO_CONFIRM_RECEIPT, PLACED + timedelta(days=30), D, stamps)
        is None
    )


def test_auto_confirm_pauses_while_an_after_sales_case_is_open():
    stamps = Timestamps(placed_at=PLACED, shipped_at=PLACED)
    in_review = shipped(after_sales_status=AfterSalesStatus.PENDING_REVIEW)
    assert (
        due_action(in_review, TimerAction.AUTO_CONFIRM_RECEIPT, PLACED + timedelta(days=8), D, stamps) is None
    )
    rejected = shipped(after_sales_status=AfterSalesStatus.REJECTED)
    assert (
        due_action(rejected, TimerAction.AUTO_CONFIRM_RECEIPT, PLACED + timedelta(days=8), D, stamps)
        is not None
    )


def test_after_sales_window_closes_the_order_fifteen_days_after_completion():
    completed_at = PLACED + timedelta(days=3)
    stamps = Timestamps(placed_at=PLACED, shipped_at=PLACED, completed_at=completed_at)
    state = shipped(status=O.COMPLETED)
    due_at, timer = next_deadline(state, D, stamps)
    assert (due_at, timer.action) == (completed_at + timedelta(days=15), TimerAction.CLOSE_AFTER_SALES_WINDOW)
    assert due_action(state, timer, due_at - TICK, D, stamps) is None
    closed = due_action(state, timer, due_at, D, stamps).apply(state)
    assert closed.status is O.CLOSED
    assert due_action(closed, timer, due_at + timedelta(days=1), D, stamps) is None


# --- stalls -------------------------------------------------------------------------------------


def test_wms_ack_stall_alerts_two_hours_after_dispatch_once():
    dispatched_at = PLACED + timedelta(minutes=5)
    state = OrderState(
        "o1", status=O.AWAITING_SHIPMENT, payment_status=P.PAID, fulfilments={"o1-F1": F.DISPATCHED}
    )
    stamps = Timestamps(placed_at=PLACED, dispatched_at={"o1-F1": dispatched_at})
    due_at, timer = next_deadline(state, D, stamps)
    assert (due_at, timer) == (
        dispatched_at + timedelta(hours=2),
        Timer(TimerAction.WMS_ACK_STALLED, "o1-F1"),
    )
    assert due_action(state, timer, due_at - TICK, D, stamps) is None
    change = due_action(state, timer, due_at, D, stamps)
    assert change.is_noop and change.outcomes == (Outcome.ALERT_OPERATOR,)
    alerted = Timestamps(
        placed_at=PLACED, dispatched_at=stamps.dispatched_at, alerted_at={alert_key(timer): due_at}
    )
    assert due_action(state, timer, due_at + TICK, D, alerted) is None
    accepted = on_fulfilment_event(state, "o1-F1", "accepted", due_at - TICK, "wms:w1").apply(state)
    assert due_action(accepted, timer, due_at, D, stamps) is None


def test_carrier_scan_stall_counts_from_the_last_scan():
    picked_up = PLACED + timedelta(hours=3)
    state = shipped(
        status=O.SHIPPED, shipment_status=ShipmentStatus.SHIPPED, fulfilments={"o1-F1": F.SHIPPED}
    )
    stamps = Timestamps(placed_at=PLACED, shipped_at=picked_up, picked_up_at={"o1-F1": picked_up})
    due_at, timer = all_deadlines(state, D, stamps)[0]
    assert (due_at, timer) == (
        picked_up + timedelta(hours=48),
        Timer(TimerAction.CARRIER_SCAN_STALLED, "o1-F1"),
    )
    assert due_action(state, timer, due_at - TICK, D, stamps) is None
    assert Outcome.ALERT_OPERATOR in due_action(state, timer, due_at, D, stamps).outcomes
    scanned_at = picked_up + timedelta(hours=40)
    moved = on_fulfilment_event(state, "o1-F1", T.IN_TRANSIT, scanned_at, "carrier:sf").apply(state)
    rescanned = Timestamps(
        placed_at=PLACED,
        shipped_at=picked_up,
        picked_up_at=stamps.picked_up_at,
        last_scan_at={"o1-F1": scanned_at},
    )
    assert due_action(moved, timer, due_at, D, rescanned) is None
    assert due_action(moved, timer, scanned_at + timedelta(hours=48), D, rescanned) is not None


def test_delivered_parcels_arm_no_stall_timer():
    stamps = Timestamps(placed_at=PLACED, picked_up_at={"o1-F1": PLACED})
    assert [t.action for _, t in all_deadlines(shipped(), D, stamps)] == []
