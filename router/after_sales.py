"""After-sales cases: refund only, return and refund, exchange.

An order may have several cases, one after another or at once. Each case moves through
its own table (one per case type); the order's ``after_sales_status`` is derived from its
cases (:func:`derive_after_sales_status`, applied by :func:`on_cases_changed`). Cases never
change the order's own status: a rejected case leaves the order where it was, and the
money side runs through ``lifecycle.on_payment(..., "refunded", ...)``, which closes a
fully refunded order.

Steps: :func:`open_case` (pending_review; a refund-only case is approved on opening when
nothing was dispatched, or all of it was intercepted), then :func:`apply_case` with
``approve``, ``reject``, ``return_received`` (condition resaleable or damaged),
``refund_done``, ``exchange_shipped``, ``exchange_delivered``.

Refunds that follow cancellations take the same path: money an order will not keep (it was
cancelled or rejected, wholly or in part, or paid after that, or paid twice) is
:func:`refund_owed`, and :func:`open_owed_refund` opens a refund-only case for it, approved by
the cancellation itself (awaiting_refund), whatever the order's status; ``refund_done`` closes it
when the money has gone back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from router.errors import IllegalTransition, RefundExceedsPaid
from router.fulfilment_flow import AT_WAREHOUSE, SHIPPED_OR_LATER, commands_from, transition
from router.order_state import AfterSalesType, Change, OrderState, can_open_after_sales, decide, order_buttons
from router.statuses import AfterSalesStatus

S, T = AfterSalesStatus, AfterSalesType


class CaseCommand(StrEnum):
    OPEN = "open"
    OPEN_APPROVED = "open_approved"  # refund only, nothing at a warehouse or beyond
    APPROVE = "approve"
    REJECT = "reject"
    RETURN_RECEIVED = "return_received"
    REFUND_DONE = "refund_done"
    EXCHANGE_SHIPPED = "exchange_shipped"
    EXCHANGE_DELIVERED = "exchange_delivered"


class ReturnCondition(StrEnum):
    RESALEABLE = "resaleable"
    DAMAGED = "damaged"


class CaseOutcome(StrEnum):
    """What the caller must do after persisting a case change."""

    REFUND = "refund"  # pay ``case.amount`` back; then refund_done and on_payment(refunded)
    RESTOCK = "restock"  # the returned goods go back to available stock
    WRITE_OFF = "write_off"  # damaged return: quarantine, not available
    SHIP_EXCHANGE = "ship_exchange"  # send the replacement; then exchange_shipped / _delivered


CC = CaseCommand
AFTER_SALES_TRANSITIONS: dict[
    AfterSalesType, dict[tuple[AfterSalesStatus, CaseCommand], AfterSalesStatus]
] = {
    T.REFUND_ONLY: {
        (S.NONE, CC.OPEN): S.PENDING_REVIEW,
        (S.NONE, CC.OPEN_APPROVED): S.AWAITING_REFUND,
        (S.PENDING_REVIEW, CC.APPROVE): S.AWAITING_REFUND,
        (S.PENDING_REVIEW, CC.REJECT): S.REJECTED,
        (S.AWAITING_REFUND, CC.REFUND_DONE): S.SUCCEEDED,
    },
    T.RETURN_REFUND: {
        (S.NONE, CC.OPEN): S.PENDING_REVIEW,
        (S.PENDING_REVIEW, CC.APPROVE): S.AWAITING_RETURN,
        (S.PENDING_REVIEW, CC.REJECT): S.REJECTED,
        (S.AWAITING_RETURN, CC.RETURN_RECEIVED): S.AWAITING_REFUND,
        (S.AWAITING_RETURN, CC.REJECT): S.REJECTED,  # nothing came back in time
        (S.AWAITING_REFUND, CC.REFUND_DONE): S.SUCCEEDED,
    },
    T.EXCHANGE: {
        (S.NONE, CC.OPEN): S.PENDING_REVIEW,
        (S.PENDING_REVIEW, CC.APPROVE): S.AWAITING_EXCHANGE_RETURN,
        (S.PENDING_REVIEW, CC.REJECT): S.REJECTED,
        (S.AWAITING_EXCHANGE_RETURN, CC.RETURN_RECEIVED): S.EXCHANGE_SHIPPING,
        (S.AWAITING_EXCHANGE_RETURN, CC.REJECT): S.REJECTED,
        (S.EXCHANGE_SHIPPING, CC.EXCHANGE_SHIPPED): S.EXCHANGE_SHIPPING,
        (S.EXCHANGE_SHIPPING, CC.EXCHANGE_DELIVERED): S.SUCCEEDED,
    },
}

FINISHED = frozenset({S.SUCCEEDED, S.REJECTED})
# Which open case the order shows when several are open: the one needing action first.
_PRIORITY = (
    S.PENDING_REVIEW,
    S.AWAITING_RETURN,
    S.AWAITING_EXCHANGE_RETURN,
    S.AWAITING_REFUND,
    S.EXCHANGE_SHIPPING,
)


@dataclass(frozen=True)
class AfterSalesCase:
    """One after-sales case. ``amount`` is the refund asked for (zero for an exchange);
    ``lines`` are ``(line_no, quantity)`` pairs; ``condition`` is set when goods came back."""

    case_id: str
    order_id: str
    type: AfterSalesType
    status: AfterSalesStatus
    opened_at: datetime
    amount: Decimal = Decimal(0)
    lines: tuple[tuple[int, int], ...] = ()
    reason: str = ""
    condition: ReturnCondition | None = None

    @property
    def is_open(self) -> bool:
        return self.status not in FINISHED


@dataclass(frozen=True)
class CaseChange:
    """The case after a step, the order-timeline entries recording it, and the outcomes."""

    case: AfterSalesCase
    timeline: tuple[dict, ...]
    outcomes: tuple[CaseOutcome, ...] = ()


def _entry(now, actor, case: AfterSalesCase, command, before, details=None) -> dict:
    return {
        "at": now,
        "actor": actor,
        "event": f"after_sales.{command}",
        "from": str(before),
        "to": str(case.status),
        "details": {"case_id": case.case_id, "type": str(case.type), **(details or {})},
    }


def refundable(state: OrderState, cases: Iterable[AfterSalesCase] = ()) -> Decimal:
    """Paid, less refunded, less what open refund cases already ask for."""
    promised = sum((c.amount for c in cases if c.is_open and c.type is not T.EXCHANGE), Decimal(0))
    return state.paid_amount - state.refunded_amount - promised


def refund_owed(state: OrderState, kept: Decimal, cases: Iterable[AfterSalesCase] = ()) -> Decimal:
    """What the order owes back: paid, less refunded, less what open refund cases already ask
    for, less ``kept`` (the payable of what it still ships and charges for: nothing once it is
    cancelled or rejected). Never negative."""
    return max(Decimal(0), refundable(state, cases) - Decimal(kept))


def open_owed_refund(
    state: OrderState,
    case_id: str,
    amount: Decimal,
    now: datetime,
    actor: str,
    lines: tuple[tuple[int, int], ...] = (),
    reason: str = "",
    cases: Iterable[AfterSalesCase] = (),
) -> CaseChange:
    """A refund-only case for money the order owes back (:func:`refund_owed`), opened approved
    (``awaiting_refund``, outcome ``refund``) by the cancellation that made it owed: unlike
    :func:`open_case` it needs no open order (a cancelled order takes one). Raises
    :class:`RefundExceedsPaid` above :func:`refundable`, ``ValueError`` for a non-positive amount."""
    amount = Decimal(amount)
    if amount <= 0:
        raise ValueError(f"a refund needs a positive amount, got {amount}")
    if amount > refundable(state, cases):
        raise RefundExceedsPaid(amount, refundable(state, cases))
    status = transition("after_sales", AFTER_SALES_TRANSITIONS[T.REFUND_ONLY], S.NONE, CC.OPEN_APPROVED)
    case = AfterSalesCase(case_id, state.order_id, T.REFUND_ONLY, status, now, amount, tuple(lines), reason)
    return CaseChange(
        case,
        (_entry(now, actor, case, CC.OPEN_APPROVED, S.NONE, {"amount": str(amount), "reason": reason}),),
        (CaseOutcome.REFUND,),
    )


def open_case(
    state: OrderState,
    case_id: str,
    case_type: AfterSalesType | str,
    now: datetime,
    actor: str,
    amount: Decimal = Decimal(0),
    lines: tuple[tuple[int, int], ...] = (),
    reason: str = "",
    cases: Iterable[AfterSalesCase] = (),
) -> CaseChange:
    """Open a case on the order ``state`` (``cases``: its existing cases).

    Returns the new case in ``pending_review``, or ``awaiting_refund`` with outcome
    ``refund`` for a refund-only case when no live fulfilment reached a warehouse.
    Raises :class:`IllegalTransition` (machine ``order``) when the order does not allow
    this case type, :class:`RefundExceedsPaid` when ``amount`` exceeds :func:`refundable`,
    ``ValueError`` for a refund case without a positive amount.
    """
    case_type = AfterSalesType(case_type)
    if not can_open_after_sales(state, case_type):
        raise IllegalTransition("order", state.status, f"after_sales.{case_type}", order_buttons(state))
    amount = Decimal(amount) if case_type is not T.EXCHANGE else Decimal(0)
    if case_type is not T.EXCHANGE:
        if amount <= 0:
            raise ValueError(f"a {case_type} case needs a positive amount, got {amount}")
        if amount > refundable(state, cases):
            raise RefundExceedsPaid(amount, refundable(state, cases))
    reached = AT_WAREHOUSE | SHIPPED_OR_LATER
    untouched = not any(s in reached for s in state.live_fulfilments().values())
    command = CC.OPEN_APPROVED if case_type is T.REFUND_ONLY and untouched else CC.OPEN
    status = transition("after_sales", AFTER_SALES_TRANSITIONS[case_type], S.NONE, command)
    case = AfterSalesCase(case_id, state.order_id, case_type, status, now, amount, tuple(lines), reason)
    outcomes = (CaseOutcome.REFUND,) if status is S.AWAITING_REFUND else ()
    return CaseChange(
        case,
        (_entry(now, actor, case, command, S.NONE, {"amount": str(amount), "reason": reason}),),
        outcomes,
    )


def apply_case(
    case: AfterSalesCase,
    command: CaseCommand | str,
    now: datetime,
    actor: str,
    condition: ReturnCondition | str | None = None,
) -> CaseChange:
    """Move a case one step. ``condition`` is required with ``return_received``.

    Outcomes: ``refund`` when the case reaches awaiting_refund; ``restock`` or
    ``write_off`` when goods come back; ``ship_exchange`` when an exchange return arrives.
    Raises :class:`IllegalTransition` (machine ``after_sales``, with the allowed commands)
    and ``ValueError`` for a missing condition.
    """
    command = CaseCommand(command)
    table = AFTER_SALES_TRANSITIONS[case.type]
    status = transition("after_sales", table, case.status, command)
    outcomes: tuple[CaseOutcome, ...] = ()
    changed = replace(case, status=status)
    if command is CC.RETURN_RECEIVED:
        if condition is None:
            raise ValueError("return_received needs a condition: resaleable or damaged")
        changed = replace(changed, condition=ReturnCondition(condition))
        outcomes += (
            CaseOutcome.RESTOCK if changed.condition is ReturnCondition.RESALEABLE else CaseOutcome.WRITE_OFF,
        )
    if status is S.AWAITING_REFUND:
        outcomes += (CaseOutcome.REFUND,)
    if status is S.EXCHANGE_SHIPPING and case.status is not S.EXCHANGE_SHIPPING:
        outcomes += (CaseOutcome.SHIP_EXCHANGE,)
    details = {"condition": str(changed.condition)} if condition is not None else None
    return CaseChange(changed, (_entry(now, actor, changed, command, case.status, details),), outcomes)


def case_commands(case: AfterSalesCase) -> tuple[str, ...]:
    """The steps the case's current status allows (for the console's buttons)."""
    return commands_from(AFTER_SALES_TRANSITIONS[case.type], case.status)


def derive_after_sales_status(cases: Iterable[AfterSalesCase]) -> AfterSalesStatus:
    """The order's after-sales status: of its open cases, the one needing action first
    (pending_review, awaiting_return, awaiting_exchange_return, awaiting_refund,
    exchange_shipping); with none open, the status of the last case opened; none without cases."""
    cases = list(cases)
    open_statuses = {c.status for c in cases if c.is_open}
    for status in _PRIORITY:
        if status in open_statuses:
            return status
    if not cases:
        return S.NONE
    return max(cases, key=lambda c: c.opened_at).status


def on_cases_changed(
    state: OrderState, cases: Iterable[AfterSalesCase], now: datetime, actor: str = "system"
) -> Change:
    """The order change that follows its cases: ``after_sales_status`` re-derived (a no-op
    change when it is the same). Raises ``ValueError`` for an unknown actor."""
    return decide(
        state,
        now,
        actor,
        "after_sales.status",
        fields={"after_sales_status": derive_after_sales_status(cases)},
    )
