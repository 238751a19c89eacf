"""Order and payment lifecycle: the tables, the decisions, and random event sequences."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.errors import IllegalTransition, RefundExceedsPaid
from router.fulfilment_flow import EVENTS, RANK, derive_shipment_status, transition
from router.lifecycle import (
    ORDER_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    OrderCommand,
    OrderState,
    Outcome,
    PaymentCommand,
    allowed_commands,
    approve_hold,
    cancel,
    change_address,
    confirm_receipt,
    expire_unpaid,
    on_fulfilment_event,
    on_intercept_failed,
    on_intercepted,
    on_payment,
    on_routed,
    ready_for_dispatch,
    reject_hold,
)
from router.statuses import AfterSalesStatus, PaymentMethod, ShipmentStatus
from router.statuses import FulfilmentStatus as F
from router.statuses import OrderStatus as O
from router.statuses import PaymentStatus as P
from router.statuses import TrackingStatus as T
from router.statuses import WmsEventType as W

pytestmark = pytest.mark.unit

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def make_state(**overrides) -> OrderState:
    values = dict(
        order_id="o1", payable=Decimal("100.00"), fulfilments={"o1-F1": F.PLANNED, "o1-F2": F.PLANNED}
    )
    values.update(overrides)
    return OrderState(**values)


def paid_state(**overrides) -> OrderState:
    values = dict(status=O.AWAITING_SHIPMENT, payment_status=P.PAID, paid_amount=Decimal("100.00"))
    return make_state(**{**values, **overrides})


def run(state, *steps):
    """Apply (function, args...) steps in turn, returning the final state."""
    for fn, *args in steps:
        state = fn(state, *args).apply(state)
    return state


def ship_all(state, actor="wms:w1"):
    for fid in state.fulfilments:
        for event in ("reserve", "dispatch", W.ACCEPTED, W.SHIPPED):
            state = on_fulfilment_event(state, fid, event, NOW, actor).apply(state)
    return state


# --- tables -------------------------------------------------------------------------


@pytest.mark.parametrize(("current", "command"), list(ORDER_TRANSITIONS))
def test_every_order_transition_moves_to_its_target(current, command):
    assert transition("order", ORDER_TRANSITIONS, current, command) is ORDER_TRANSITIONS[(current, command)]


@pytest.mark.parametrize(
    ("current", "command"), [p for p in product(O, OrderCommand) if p not in ORDER_TRANSITIONS]
)
def test_every_other_order_pair_is_refused(current, command):
    with pytest.raises(IllegalTransition) as caught:
        transition("order", ORDER_TRANSITIONS, current, command)
    assert caught.value.allowed == allowed_commands("order", current)


@pytest.mark.parametrize(("current", "command"), list(PAYMENT_TRANSITIONS))
def test_every_payment_transition_moves_to_its_target(current, command):
    assert (
        transition("payment", PAYMENT_TRANSITIONS, current, command)
        is PAYMENT_TRANSITIONS[(current, command)]
    )


@pytest.mark.parametrize(
    ("current", "command"), [p for p in product(P, PaymentCommand) if p not in PAYMENT_TRANSITIONS]
)
def test_every_other_payment_pair_is_refused(current, command):
    with pytest.raises(IllegalTransition) as caught:
        transition("payment", PAYMENT_TRANSITIONS, current, command)
    assert caught.value.machine == "payment"
    assert caught.value.allowed == allowed_commands("payment", current)


def test_terminal_order_statuses_allow_nothing():
    for status in (O.CANCELLED, O.CLOSED, O.REJECTED):
        assert allowed_commands("order", status) == ()


def test_unknown_machine_is_a_value_error():
    with pytest.raises(ValueError):
        allowed_commands("warehouse", "open")


# --- routing and payment ---------------------------------------------------------------


def test_routed_unpaid_online_order_waits_for_payment():
    change = on_routed(make_state(), "routed", NOW)
    assert change.apply(make_state()).status is O.PENDING_PAYMENT
    assert Outcome.READY_FOR_DISPATCH not in change.outcomes


@pytest.mark.parametrize("method", [PaymentMethod.CASH_ON_DELIVERY, PaymentMethod.TERMS])
def test_routed_cod_and_terms_orders_await_shipment(method):
    change = on_routed(make_state(payment_method=method), "routed", NOW)
    assert change.fields["status"] is O.AWAITING_SHIPMENT
    assert Outcome.READY_FOR_DISPATCH in change.outcomes


def test_routed_paid_order_awaits_shipment():
    state = make_state(payment_status=P.PAID, paid_amount=Decimal("100.00"))
    assert on_routed(state, "backordered", NOW).fields["status"] is O.AWAITING_SHIPMENT


def test_held_and_rejected_routing():
    assert on_routed(make_state(), "held", NOW).fields["status"] is O.ON_HOLD
    rejected = on_routed(make_state(fulfilments={"o1-F1": F.RESERVED}), "rejected", NOW)
    assert rejected.fields["status"] is O.REJECTED
    assert rejected.fulfilments == {"o1-F1": F.CANCELLED}
    assert Outcome.RELEASE_STOCK in rejected.outcomes


def test_routing_adds_new_fulfilments():
    change = on_routed(make_state(fulfilments={}), "routed", NOW, fulfilments={"o1-F1": F.PLANNED})
    assert change.apply(make_state(fulfilments={})).fulfilments == {"o1-F1": F.PLANNED}


def test_payment_moves_pending_order_to_awaiting_shipment_with_a_timeline_entry():
    change = on_payment(make_state(), "paid", Decimal("100.00"), NOW)
    assert change.fields == {
        "status": O.AWAITING_SHIPMENT,
        "payment_status": P.PAID,
        "paid_amount": Decimal("100.00"),
    }
    assert change.expect["status"] is O.PENDING_PAYMENT
    entry = change.timeline[0]
    assert (entry["at"], entry["actor"], entry["event"], entry["from"], entry["to"]) == (
        NOW,
        "payment",
        "payment.paid",
        "pending_payment",
        "awaiting_shipment",
    )
    assert Outcome.READY_FOR_DISPATCH in change.outcomes


def test_failed_payment_keeps_the_order_payable():
    state = run(make_state(), (on_payment, "failed", Decimal(0), NOW))
    assert (state.status, state.payment_status) == (O.PENDING_PAYMENT, P.FAILED)
    state = run(state, (on_payment, "paid", Decimal("100.00"), NOW))
    assert (state.status, state.payment_status) == (O.AWAITING_SHIPMENT, P.PAID)


def test_late_failure_after_payment_is_recorded_and_ignored():
    change = on_payment(paid_state(), "failed", Decimal(0), NOW)
    assert change.is_noop and change.timeline[0]["details"]["ignored"]


def test_underpayment_is_recorded_but_does_not_pay():
    state = run(make_state(), (on_payment, "paid", Decimal("60.00"), NOW))
    assert (state.status, state.payment_status, state.paid_amount) == (
        O.PENDING_PAYMENT,
        P.UNPAID,
        Decimal("60.00"),
    )
    state = run(state, (on_payment, "paid", Decimal("40.00"), NOW))
    assert state.payment_status is P.PAID


def test_payment_on_a_cancelled_order_does_not_reopen_it():
    change = on_payment(make_state(status=O.CANCELLED), "paid", Decimal("100.00"), NOW)
    assert "status" not in change.fields
    assert change.fields["refund_due"] is True
    assert Outcome.REFUND_DUE in change.outcomes


def test_second_payment_is_flagged_for_refund():
    change = on_payment(paid_state(), "paid", Decimal("100.00"), NOW)
    assert Outcome.REFUND_DUE in change.outcomes and "status" not in change.fields


def test_partial_then_full_refund_closes_a_shipped_order():
    state = ship_all(paid_state())
    state = run(state, (on_payment, "refunded", Decimal("30.00"), NOW))
    assert (state.status, state.payment_status) == (O.SHIPPED, P.PARTIALLY_REFUNDED)
    state = run(state, (on_payment, "refunded", Decimal("70.00"), NOW))
    assert (state.status, state.payment_status, state.refunded_amount) == (
        O.CLOSED,
        P.REFUNDED,
        Decimal("100.00"),
    )


def test_full_refund_before_dispatch_closes_and_releases_stock():
    change = on_payment(paid_state(fulfilments={"o1-F1": F.RESERVED}), "refunded", Decimal("100.00"), NOW)
    assert change.fields["status"] is O.CLOSED
    assert change.fulfilments == {"o1-F1": F.CANCELLED}
    assert Outcome.RELEASE_STOCK in change.outcomes


def test_refund_beyond_what_was_paid_is_refused():
    with pytest.raises(RefundExceedsPaid):
        on_payment(paid_state(), "refunded", Decimal("100.01"), NOW)


def test_refund_of_an_unpaid_order_is_an_illegal_transition():
    with pytest.raises(IllegalTransition) as caught:
        on_payment(make_state(paid_amount=Decimal(5)), "refunded", Decimal(5), NOW)
    assert caught.value.machine == "payment"


def test_non_positive_amounts_are_refused():
    with pytest.raises(ValueError):
        on_payment(make_state(), "paid", Decimal(0), NOW)


@pytest.mark.parametrize(
    ("state", "ready"),
    [
        (make_state(), False),
        (paid_state(), True),
        (paid_state(payment_status=P.PARTIALLY_REFUNDED), True),
        (make_state(status=O.AWAITING_SHIPMENT, payment_method=PaymentMethod.CASH_ON_DELIVERY), True),
        (make_state(status=O.AWAITING_SHIPMENT, payment_method=PaymentMethod.TERMS), True),
        (paid_state(status=O.ON_HOLD), False),
        (paid_state(status=O.CANCELLED), False),
        (paid_state(cancel_requested=True), False),
    ],
)
def test_ready_for_dispatch(state, ready):
    assert ready_for_dispatch(state) is ready


# --- fulfilments -------------------------------------------------------------------------


def test_order_ships_when_every_live_fulfilment_has_shipped():
    state = ship_all(paid_state())
    assert (state.status, state.shipment_status) == (O.SHIPPED, ShipmentStatus.SHIPPED)


def test_one_shipped_fulfilment_makes_the_order_partially_shipped():
    state = paid_state(fulfilments={"o1-F1": F.PACKED, "o1-F2": F.ACCEPTED})
    state = run(state, (on_fulfilment_event, "o1-F1", W.SHIPPED, NOW, "wms:w1"))
    assert (state.status, state.shipment_status) == (O.AWAITING_SHIPMENT, ShipmentStatus.PARTIALLY_SHIPPED)


def test_delivered_fulfilments_derive_shipment_delivered():
    state = ship_all(paid_state())
    for fid in state.fulfilments:
        state = run(state, (on_fulfilment_event, fid, T.DELIVERED, NOW, "carrier:sf"))
    assert (state.status, state.shipment_status) == (O.SHIPPED, ShipmentStatus.DELIVERED)


def test_late_scan_is_a_recorded_no_op():
    state = paid_state(fulfilments={"o1-F1": F.DELIVERED})
    change = on_fulfilment_event(state, "o1-F1", T.IN_TRANSIT, NOW, "carrier:sf")
    assert change.is_noop and change.timeline[0]["details"]["ignored"] == "stale"


def test_dispatch_before_payment_is_refused():
    with pytest.raises(IllegalTransition) as caught:
        on_fulfilment_event(make_state(fulfilments={"o1-F1": F.RESERVED}), "o1-F1", "dispatch", NOW)
    assert caught.value.machine == "order"


def test_short_pick_asks_for_a_reroute():
    state = paid_state(fulfilments={"o1-F1": F.ACCEPTED})
    change = on_fulfilment_event(state, "o1-F1", W.SHORT_PICKED, NOW, "wms:w1")
    assert change.fulfilments == {"o1-F1": F.DISPATCH_FAILED} and Outcome.REROUTE in change.outcomes


def test_unknown_actor_is_refused():
    with pytest.raises(ValueError):
        on_payment(make_state(), "paid", Decimal("100.00"), NOW, actor="bank")


# --- customer and operator commands -------------------------------------------------


def test_cancel_before_dispatch_cancels_and_releases_stock():
    change = cancel(paid_state(fulfilments={"o1-F1": F.RESERVED}), "customer", NOW)
    assert change.fields["status"] is O.CANCELLED and change.fields["refund_due"] is True
    assert change.fulfilments == {"o1-F1": F.CANCELLED}
    assert set(change.outcomes) == {Outcome.RELEASE_STOCK, Outcome.REFUND_DUE}


def test_cancel_after_dispatch_requests_intercept_then_cancels():
    state = paid_state(fulfilments={"o1-F1": F.ACCEPTED, "o1-F2": F.RESERVED})
    change = cancel(state, "customer", NOW)
    assert Outcome.INTERCEPT_REQUESTED in change.outcomes
    assert change.fulfilments == {"o1-F2": F.CANCELLED}
    state = change.apply(state)
    assert state.status is O.AWAITING_SHIPMENT and state.cancel_requested
    assert Outcome.INTERCEPT_REQUESTED in cancel(state, "customer", NOW).outcomes  # asking again
    change = on_intercepted(state, "o1-F1", NOW, "wms:w1")
    state = change.apply(state)
    assert (state.status, state.cancel_requested) == (O.CANCELLED, False)
    assert Outcome.REFUND_DUE in change.outcomes


def test_failed_intercept_lets_the_order_carry_on():
    state = paid_state(fulfilments={"o1-F1": F.PACKED}, cancel_requested=True)
    state = run(
        state,
        (on_intercept_failed, "o1-F1", NOW, "wms:w1"),
        (on_fulfilment_event, "o1-F1", W.SHIPPED, NOW, "wms:w1"),
    )
    assert (state.status, state.cancel_requested) == (O.SHIPPED, False)


def test_cancel_after_shipping_is_refused_with_the_allowed_commands():
    with pytest.raises(IllegalTransition) as caught:
        cancel(ship_all(paid_state()), "customer", NOW)
    assert caught.value.current == "shipped"
    assert "confirm_receipt" in caught.value.allowed and "cancel" not in caught.value.allowed


def test_cancel_of_a_partially_shipped_order_is_refused():
    with pytest.raises(IllegalTransition):
        cancel(paid_state(fulfilments={"o1-F1": F.SHIPPED, "o1-F2": F.PACKED}), "customer", NOW)


def test_address_changes_until_shipped():
    change = change_address(
        paid_state(fulfilments={"o1-F1": F.ACCEPTED}), "customer", NOW, {"city": "Hangzhou"}
    )
    assert change.is_noop and Outcome.UPDATE_WMS_ADDRESS in change.outcomes
    assert change.timeline[0]["details"]["address"] == {"city": "Hangzhou"}
    with pytest.raises(IllegalTransition):
        change_address(paid_state(fulfilments={"o1-F1": F.SHIPPED}), "customer", NOW)


def test_confirm_receipt_completes_a_shipped_order():
    state = ship_all(paid_state())
    assert confirm_receipt(state, "customer", NOW).fields["status"] is O.COMPLETED
    assert confirm_receipt(state, "system", NOW).timeline[0]["event"] == "order.auto_confirm_receipt"
    with pytest.raises(IllegalTransition):
        confirm_receipt(paid_state(), "customer", NOW)


def test_hold_approval_resumes_the_paid_order():
    change = approve_hold(paid_state(status=O.ON_HOLD), "operator:ann", NOW)
    assert change.fields["status"] is O.AWAITING_SHIPMENT
    assert {Outcome.RESUME_ROUTING, Outcome.READY_FOR_DISPATCH} <= set(change.outcomes)
    assert (
        approve_hold(make_state(status=O.ON_HOLD), "operator:ann", NOW).fields["status"] is O.PENDING_PAYMENT
    )


def test_hold_rejection_rejects_the_order():
    change = reject_hold(make_state(status=O.ON_HOLD), "operator:ann", NOW, "fraud")
    assert change.fields["status"] is O.REJECTED
    with pytest.raises(IllegalTransition):
        reject_hold(paid_state(), "operator:ann", NOW)


def test_expire_unpaid_only_while_pending_payment():
    assert expire_unpaid(make_state(), NOW).fields["status"] is O.CANCELLED
    with pytest.raises(IllegalTransition):
        expire_unpaid(paid_state(), NOW)


def test_buttons_follow_the_state():
    assert allowed_commands(make_state()) == ("cancel", "change_address")
    assert allowed_commands(make_state(status=O.ON_HOLD)) == (
        "cancel",
        "change_address",
        "approve_hold",
        "reject_hold",
    )
    assert "after_sales.refund_only" in allowed_commands(paid_state())
    assert allowed_commands(make_state(status=O.CLOSED)) == ()


# --- random sequences -------------------------------------------------------------------

# Weighted by repetition so that sequences get past routing and payment before ending.
_FULFILMENT_ACTION = st.tuples(
    st.just("fulfilment"), st.sampled_from(["o1-F1", "o1-F2"]), st.sampled_from(EVENTS)
)
ACTIONS = st.one_of(
    st.tuples(st.just("routed"), st.sampled_from(["routed"] * 6 + ["backordered", "held", "rejected"])),
    st.tuples(
        st.just("payment"),
        st.sampled_from(["paid", "paid", "failed", "refunded"]),
        st.sampled_from([Decimal("30.00"), Decimal("70.00"), Decimal("100.00")]),
    ),
    _FULFILMENT_ACTION,
    _FULFILMENT_ACTION,
    _FULFILMENT_ACTION,
    _FULFILMENT_ACTION,
    st.tuples(
        st.just("command"),
        st.sampled_from([change_address, confirm_receipt, approve_hold, approve_hold, cancel, reject_hold]),
    ),
    st.tuples(st.just("intercept_failed"), st.sampled_from(["o1-F1", "o1-F2"])),
)


def _act(state, action, now):
    kind = action[0]
    if kind == "routed":
        return on_routed(state, action[1], now)
    if kind == "payment":
        return on_payment(state, action[1], action[2], now)
    if kind == "fulfilment":
        return on_fulfilment_event(state, action[1], action[2], now)
    if kind == "intercept_failed":
        return on_intercept_failed(state, action[1], now)
    return action[1](
        state, "customer" if action[1] in (cancel, change_address, confirm_receipt) else "operator:x", now
    )


# Start from several points of the life so that the carrier leg is reached often, too.
STARTS = [
    make_state(),
    make_state(payment_method=PaymentMethod.CASH_ON_DELIVERY),
    paid_state(fulfilments={"o1-F1": F.RESERVED, "o1-F2": F.DISPATCHED}),
    paid_state(
        fulfilments={"o1-F1": F.PACKED, "o1-F2": F.SHIPPED}, shipment_status=ShipmentStatus.PARTIALLY_SHIPPED
    ),
    paid_state(
        status=O.SHIPPED,
        shipment_status=ShipmentStatus.SHIPPED,
        fulfilments={"o1-F1": F.IN_TRANSIT, "o1-F2": F.SHIPPED},
    ),
]


@settings(max_examples=300)
@given(st.sampled_from(STARTS), st.lists(ACTIONS, max_size=60))
def test_random_sequences_stay_in_the_vocabulary_and_never_move_a_fulfilment_back(state, actions):
    now = NOW
    for action in actions:
        now += timedelta(minutes=1)
        try:
            change = _act(state, action, now)
        except (IllegalTransition, RefundExceedsPaid):
            continue
        new = change.apply(state)
        assert new.status in O and new.payment_status in P
        assert new.shipment_status in ShipmentStatus and new.after_sales_status in AfterSalesStatus
        assert Decimal(0) <= new.refunded_amount <= new.paid_amount
        assert new.shipment_status is derive_shipment_status(new.fulfilments.values())
        for fid, before in state.fulfilments.items():
            after = new.fulfilments[fid]
            assert after in F
            if before in RANK and after in RANK:
                assert RANK[after] >= RANK[before], (fid, before, after, action)
            if before in (F.DELIVERED, F.CANCELLED):
                assert after is before
        if state.status in (O.CANCELLED, O.REJECTED, O.CLOSED):
            assert new.status is state.status
        state = new
