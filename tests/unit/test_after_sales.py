"""After-sales cases: each type's table, opening rules, steps, and the order's derived status."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import product

import pytest

from router.after_sales import (
    AFTER_SALES_TRANSITIONS,
    AfterSalesCase,
    AfterSalesType,
    CaseCommand,
    CaseOutcome,
    ReturnCondition,
    apply_case,
    case_commands,
    derive_after_sales_status,
    on_cases_changed,
    open_case,
    refundable,
)
from router.errors import IllegalTransition, RefundExceedsPaid
from router.lifecycle import OrderState, allowed_commands, on_payment
from router.statuses import AfterSalesStatus as S
from router.statuses import FulfilmentStatus as F
from router.statuses import OrderStatus as O
from router.statuses import PaymentStatus as P
from router.statuses import ShipmentStatus

pytestmark = pytest.mark.unit

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def order(**overrides) -> OrderState:
    values = dict(
        order_id="o1",
        status=O.SHIPPED,
        payment_status=P.PAID,
        payable=Decimal(100),
        paid_amount=Decimal(100),
        shipment_status=ShipmentStatus.DELIVERED,
        fulfilments={"o1-F1": F.DELIVERED},
    )
    return OrderState(**{**values, **overrides})


def case(case_type=AfterSalesType.RETURN_REFUND, status=S.PENDING_REVIEW, amount="40", at=NOW, case_id="c1"):
    return AfterSalesCase(case_id, "o1", case_type, status, at, Decimal(amount))


TABLE_ROWS = [(t, s, c) for t, table in AFTER_SALES_TRANSITIONS.items() for (s, c) in table]
REFUSED_ROWS = [
    (t, s, c)
    for t, s, c in product(AfterSalesType, S, CaseCommand)
    if (s, c) not in AFTER_SALES_TRANSITIONS[t]
]


@pytest.mark.parametrize(
    ("case_type", "status", "command"),
    [r for r in TABLE_ROWS if r[2] not in (CaseCommand.OPEN, CaseCommand.OPEN_APPROVED)],
)
def test_every_case_step_moves_to_its_target(case_type, status, command):
    changed = apply_case(case(case_type, status), command, NOW, "operator:ann", condition="resaleable").case
    assert changed.status is AFTER_SALES_TRANSITIONS[case_type][(status, command)]


@pytest.mark.parametrize(("case_type", "status", "command"), REFUSED_ROWS)
def test_every_other_case_step_is_refused(case_type, status, command):
    with pytest.raises(IllegalTransition) as caught:
        apply_case(case(case_type, status), command, NOW, "operator:ann", condition="resaleable")
    assert caught.value.machine == "after_sales"
    assert caught.value.allowed == allowed_commands("after_sales", status, case_type)


def test_case_commands_are_the_buttons():
    assert case_commands(case(status=S.PENDING_REVIEW)) == ("approve", "reject")


# --- opening --------------------------------------------------------------------------------------


def test_refund_only_before_dispatch_is_approved_on_opening():
    state = order(
        status=O.AWAITING_SHIPMENT,
        shipment_status=ShipmentStatus.UNSHIPPED,
        fulfilments={"o1-F1": F.RESERVED, "o1-F2": F.CANCELLED},
    )
    opened = open_case(state, "c1", "refund_only", NOW, "customer", amount=Decimal(100))
    assert opened.case.status is S.AWAITING_REFUND and opened.outcomes == (CaseOutcome.REFUND,)
    assert opened.timeline[0]["event"] == "after_sales.open_approved"


def test_refund_only_after_dispatch_waits_for_review():
    state = order(
        status=O.AWAITING_SHIPMENT,
        shipment_status=ShipmentStatus.UNSHIPPED,
        fulfilments={"o1-F1": F.ACCEPTED},
    )
    assert (
        open_case(state, "c1", "refund_only", NOW, "customer", amount=Decimal(10)).case.status
        is S.PENDING_REVIEW
    )


@pytest.mark.parametrize("case_type", list(AfterSalesType))
def test_no_case_on_an_unshipped_unpaid_or_finished_order(case_type):
    for state in (
        order(status=O.PENDING_PAYMENT, payment_status=P.UNPAID, paid_amount=Decimal(0)),
        order(status=O.CANCELLED),
        order(status=O.CLOSED),
    ):
        with pytest.raises(IllegalTransition):
            open_case(state, "c1", case_type, NOW, "customer", amount=Decimal(1))


def test_return_needs_something_shipped():
    with pytest.raises(IllegalTransition):
        open_case(
            order(
                status=O.AWAITING_SHIPMENT,
                shipment_status=ShipmentStatus.UNSHIPPED,
                fulfilments={"o1-F1": F.PACKED},
            ),
            "c1",
            "return_refund",
            NOW,
            "customer",
            amount=Decimal(1),
        )


def test_refunds_cannot_exceed_what_was_paid_and_not_yet_promised():
    first = case(AfterSalesType.REFUND_ONLY, S.PENDING_REVIEW, amount="70")
    assert refundable(order(), [first]) == Decimal(30)
    with pytest.raises(RefundExceedsPaid):
        open_case(order(), "c2", "return_refund", NOW, "customer", amount=Decimal(31), cases=[first])
    with pytest.raises(ValueError):
        open_case(order(), "c2", "refund_only", NOW, "customer", amount=Decimal(0))


# --- steps ------------------------------------------------------------------------------------


def test_return_and_refund_runs_to_success():
    c = open_case(order(), "c1", "return_refund", NOW, "customer", amount=Decimal(40)).case
    c = apply_case(c, "approve", NOW, "operator:ann").case
    assert c.status is S.AWAITING_RETURN
    received = apply_case(c, "return_received", NOW, "wms:w1", condition="damaged")
    assert received.case.status is S.AWAITING_REFUND and received.case.condition is ReturnCondition.DAMAGED
    assert received.outcomes == (CaseOutcome.WRITE_OFF, CaseOutcome.REFUND)
    assert apply_case(received.case, "refund_done", NOW, "payment").case.status is S.SUCCEEDED


def test_return_received_needs_a_condition():
    with pytest.raises(ValueError):
        apply_case(case(status=S.AWAITING_RETURN), "return_received", NOW, "wms:w1")


def test_exchange_runs_to_success():
    c = open_case(order(), "c1", "exchange", NOW, "customer").case
    assert c.amount == 0
    c = apply_case(c, "approve", NOW, "operator:ann").case
    back = apply_case(c, "return_received", NOW, "wms:w1", condition="resaleable")
    assert back.case.status is S.EXCHANGE_SHIPPING
    assert back.outcomes == (CaseOutcome.RESTOCK, CaseOutcome.SHIP_EXCHANGE)
    c = apply_case(back.case, "exchange_shipped", NOW, "wms:w1").case
    assert apply_case(c, "exchange_delivered", NOW, "carrier:sf").case.status is S.SUCCEEDED


# --- the order's side --------------------------------------------------------------------------


def test_order_status_follows_the_case_needing_action_first():
    later = NOW + timedelta(hours=1)
    assert derive_after_sales_status([]) is S.NONE
    assert (
        derive_after_sales_status([case(status=S.AWAITING_REFUND), case(status=S.PENDING_REVIEW, at=later)])
        is S.PENDING_REVIEW
    )
    assert (
        derive_after_sales_status([case(status=S.SUCCEEDED), case(status=S.REJECTED, at=later)]) is S.REJECTED
    )


def test_rejected_case_returns_the_order_to_its_normal_flow():
    state = order(after_sales_status=S.PENDING_REVIEW)
    rejected = apply_case(case(), "reject", NOW, "operator:ann").case
    change = on_cases_changed(state, [rejected], NOW, "operator:ann")
    assert change.fields == {"after_sales_status": S.REJECTED}
    after = change.apply(state)
    assert after.status is O.SHIPPED and "confirm_receipt" in allowed_commands(after)


def test_a_second_case_after_the_first_succeeded():
    first = case(AfterSalesType.REFUND_ONLY, S.SUCCEEDED, amount="30")
    state = order(payment_status=P.PARTIALLY_REFUNDED, refunded_amount=Decimal(30))
    second = open_case(
        state, "c2", "return_refund", NOW, "customer", amount=Decimal(70), cases=[first]
    ).case
    assert on_cases_changed(state, [first, second], NOW).fields["after_sales_status"] is S.PENDING_REVIEW


def test_fully_refunded_order_ends_closed():
    c = case(AfterSalesType.REFUND_ONLY, S.AWAITING_REFUND, amount="100")
    done = apply_case(c, "refund_done", NOW, "payment").case
    state = on_cases_changed(order(), [done], NOW).apply(order())
    state = on_payment(state, "refunded", Decimal(100), NOW).apply(state)
    assert (state.status, state.payment_status, state.after_sales_status) == (
        O.CLOSED,
        P.REFUNDED,
        S.SUCCEEDED,
    )
