"""The order's state snapshot, the order and payment transition tables, and the Change a
decision returns. Pure data: the decisions live in ``router/lifecycle.py`` (order,
payment, fulfilments), ``router/after_sales.py`` and ``router/timers.py``.

Actors in timeline entries: ``customer``, ``operator:<id>``, ``system``, ``wms:<id>``, ``channel:<id>``,
``carrier:<id>``, ``payment``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

from router.fulfilment_flow import PARTLY_OR_ALL_SHIPPED, derive_shipment_status, transition
from router.statuses import (
    AfterSalesStatus,
    FulfilmentStatus,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    ShipmentStatus,
)

OS, P, F = OrderStatus, PaymentStatus, FulfilmentStatus


class OrderCommand(StrEnum):
    ROUTE = "route"  # routing placed (or backordered) the order
    PAYMENT_SATISFIED = "payment_satisfied"  # paid in full, or cash on delivery / terms
    HOLD = "hold"
    REJECT = "reject"
    APPROVE_HOLD = "approve_hold"
    REJECT_HOLD = "reject_hold"
    CANCEL = "cancel"
    EXPIRE_UNPAID = "expire_unpaid"
    CHANGE_ADDRESS = "change_address"
    SHIP = "ship"  # every live fulfilment has shipped
    CONFIRM_RECEIPT = "confirm_receipt"
    AUTO_CONFIRM_RECEIPT = "auto_confirm_receipt"
    FULLY_REFUNDED = "fully_refunded"
    CLOSE_AFTER_SALES_WINDOW = "close_after_sales_window"
    RESOLVE_EXCEPTION = "resolve_exception"  # an operator marks the order's open exception flags resolved
    RESHIP = "reship"  # send the goods of a parcel in exception again, from another warehouse


class PaymentCommand(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    REFUND_PARTIAL = "refund_partial"
    REFUND_FULL = "refund_full"


class Outcome(StrEnum):
    """What the caller must do after persisting a change (details are in the timeline)."""

    READY_FOR_DISPATCH = "ready_for_dispatch"  # reserve what is planned, dispatch what is reserved
    RELEASE_STOCK = "release_stock"  # release the reservations of the fulfilments just cancelled
    INTERCEPT_REQUESTED = "intercept_requested"  # ask the WMS to intercept; then call on_intercepted
    REFUND_DUE = "refund_due"  # money was taken for an order that will not ship it
    RESUME_ROUTING = "resume_routing"  # a held order was approved
    UPDATE_WMS_ADDRESS = "update_wms_address"  # a dispatched fulfilment needs the new address
    REROUTE = "reroute"  # a fulfilment failed dispatch (refused, short-picked): retry or re-route
    ALERT_OPERATOR = "alert_operator"  # a stall or a conflict that needs a person


C = OrderCommand
ORDER_TRANSITIONS: dict[tuple[OrderStatus, OrderCommand], OrderStatus] = {
    (OS.PENDING_PAYMENT, C.ROUTE): OS.PENDING_PAYMENT,
    (OS.PENDING_PAYMENT, C.PAYMENT_SATISFIED): OS.AWAITING_SHIPMENT,
    (OS.PENDING_PAYMENT, C.HOLD): OS.ON_HOLD,
    (OS.PENDING_PAYMENT, C.REJECT): OS.REJECTED,
    (OS.PENDING_PAYMENT, C.CANCEL): OS.CANCELLED,
    (OS.PENDING_PAYMENT, C.EXPIRE_UNPAID): OS.CANCELLED,
    (OS.PENDING_PAYMENT, C.CHANGE_ADDRESS): OS.PENDING_PAYMENT,
    (OS.AWAITING_SHIPMENT, C.ROUTE): OS.AWAITING_SHIPMENT,
    (OS.AWAITING_SHIPMENT, C.HOLD): OS.ON_HOLD,
    (OS.AWAITING_SHIPMENT, C.REJECT): OS.REJECTED,
    (OS.AWAITING_SHIPMENT, C.CANCEL): OS.CANCELLED,
    (OS.AWAITING_SHIPMENT, C.CHANGE_ADDRESS): OS.AWAITING_SHIPMENT,
    (OS.AWAITING_SHIPMENT, C.SHIP): OS.SHIPPED,
    (OS.AWAITING_SHIPMENT, C.FULLY_REFUNDED): OS.CLOSED,
    (OS.ON_HOLD, C.APPROVE_HOLD): OS.PENDING_PAYMENT,  # then payment_satisfied when it is
    (OS.ON_HOLD, C.REJECT_HOLD): OS.REJECTED,
    (OS.ON_HOLD, C.CANCEL): OS.CANCELLED,
    (OS.ON_HOLD, C.CHANGE_ADDRESS): OS.ON_HOLD,
    (OS.SHIPPED, C.CONFIRM_RECEIPT): OS.COMPLETED,
    (OS.SHIPPED, C.AUTO_CONFIRM_RECEIPT): OS.COMPLETED,
    (OS.SHIPPED, C.FULLY_REFUNDED): OS.CLOSED,
    (OS.COMPLETED, C.FULLY_REFUNDED): OS.CLOSED,
    (OS.COMPLETED, C.CLOSE_AFTER_SALES_WINDOW): OS.CLOSED,
}

PAYMENT_TRANSITIONS: dict[tuple[PaymentStatus, PaymentCommand], PaymentStatus] = {
    (P.UNPAID, PaymentCommand.PAID): P.PAID,
    (P.UNPAID, PaymentCommand.FAILED): P.FAILED,
    (P.FAILED, PaymentCommand.PAID): P.PAID,
    (P.FAILED, PaymentCommand.FAILED): P.FAILED,
    (P.PAID, PaymentCommand.REFUND_PARTIAL): P.PARTIALLY_REFUNDED,
    (P.PAID, PaymentCommand.REFUND_FULL): P.REFUNDED,
    (P.PARTIALLY_REFUNDED, PaymentCommand.REFUND_PARTIAL): P.PARTIALLY_REFUNDED,
    (P.PARTIALLY_REFUNDED, PaymentCommand.REFUND_FULL): P.REFUNDED,
}

ZERO = Decimal(0)
# a customer acting themselves (adapters/http/customer.py): customer:<channel>:<their id at it>
_ACTOR = re.compile(r"^(customer|system|payment|(operator|wms|carrier|channel):[^\s:]+|customer:[^\s:]+:\S+)$")


@dataclass(frozen=True)
class OrderState:
    """A snapshot of what the lifecycle needs to know about one order.

    ``fulfilments`` maps fulfilment id to status (treat as read-only). Money is Decimal in
    the order's currency. ``cancel_requested``: a cancel waits for WMS intercepts.
    ``refund_due``: money arrived that the order will not keep (paid after cancel, paid twice).
    ``backordered_units``: units of the order in no fulfilment yet, waiting for stock (routing's
    live backorder): while there are any the order is not shipped, only partially.
    ``flagged``: what the order's open exception flags are about (``router/exceptions.py``):
    fulfilment ids, and ``""`` for a flag on the order as a whole.
    """

    order_id: str
    status: OrderStatus = OS.PENDING_PAYMENT
    payment_status: PaymentStatus = P.UNPAID
    shipment_status: ShipmentStatus = ShipmentStatus.UNSHIPPED
    after_sales_status: AfterSalesStatus = AfterSalesStatus.NONE
    payment_method: PaymentMethod = PaymentMethod.ONLINE
    fulfilments: Mapping[str, FulfilmentStatus] = field(default_factory=dict)
    payable: Decimal = ZERO
    paid_amount: Decimal = ZERO
    refunded_amount: Decimal = ZERO
    cancel_requested: bool = False
    refund_due: bool = False
    backordered_units: int = 0
    flagged: frozenset[str] = frozenset()

    def live_fulfilments(self) -> dict[str, FulfilmentStatus]:
        """The fulfilments that are not cancelled."""
        return {fid: s for fid, s in self.fulfilments.items() if s is not F.CANCELLED}


@dataclass(frozen=True)
class Change:
    """A decision: what to write and what to do.

    ``fields``: OrderState fields (not ``fulfilments``) that change, with their new values.
    ``fulfilments``: fulfilment id -> new status, only those that change.
    ``expect``: the values the decision was made on, i.e. the old value of every changed
    field, and ``"fulfilments.<id>"`` for each changed fulfilment: guard the update on them.
    ``timeline``: entries ``{at, actor, event, from, to, details}`` (order status from/to;
    ``details["changes"]`` maps each changed field to ``[old, new]``).
    ``outcomes``: :class:`Outcome` values the caller must act on.
    """

    fields: Mapping[str, Any] = field(default_factory=dict)
    fulfilments: Mapping[str, FulfilmentStatus] = field(default_factory=dict)
    expect: Mapping[str, Any] = field(default_factory=dict)
    timeline: tuple[dict, ...] = ()
    outcomes: tuple[Outcome, ...] = ()

    @property
    def is_noop(self) -> bool:
        """True when nothing changes (the timeline may still record the event)."""
        return not self.fields and not self.fulfilments

    def then(self, after: Change) -> Change:
        """This change followed by ``after`` (decided on :meth:`apply` of this one): ``after``'s
        values win, ``expect`` keeps what this one was decided on, timelines and outcomes add up."""
        return Change({**self.fields, **after.fields}, {**self.fulfilments, **after.fulfilments},
                      {**after.expect, **self.expect}, (*self.timeline, *after.timeline),
                      tuple(dict.fromkeys((*self.outcomes, *after.outcomes))))

    def apply(self, state: OrderState) -> OrderState:
        """The state after this change (for tests and for chaining decisions)."""
        return replace(state, **self.fields, fulfilments={**state.fulfilments, **self.fulfilments})


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value


def decide(
    state: OrderState,
    now: datetime,
    actor: str,
    event: str,
    *,
    commands: tuple = (),
    fields: Mapping | None = None,
    fulfilments: Mapping | None = None,
    outcomes: tuple = (),
    details: Mapping | None = None,
) -> Change:
    """Build a :class:`Change`: run ``commands`` through the order table, merge ``fields``
    and ``fulfilments`` (shipment status is re-derived), drop what does not change.

    Shared by this module and ``router/timers.py``; raises :class:`IllegalTransition` from
    the order table and ``ValueError`` for an actor outside the vocabulary.
    """
    if not _ACTOR.match(actor):
        raise ValueError(f"unknown actor {actor!r}")
    fields = dict(fields or {})
    status = state.status
    for command in commands:
        status = transition("order", ORDER_TRANSITIONS, status, command)
    fields["status"] = fields.get("status", status)
    moved = {fid: s for fid, s in (fulfilments or {}).items() if state.fulfilments.get(fid) != s}
    if moved:
        fields["shipment_status"] = derive_shipment_status({**state.fulfilments, **moved}.values(),
                                                           outstanding=state.backordered_units > 0)
    fields = {k: v for k, v in fields.items() if getattr(state, k) != v}
    expect = {k: getattr(state, k) for k in fields}
    expect.update({f"fulfilments.{fid}": state.fulfilments.get(fid) for fid in moved})
    changes = {k: [_plain(expect[k]), _plain(v)] for k, v in fields.items()}
    changes.update(
        {f"fulfilments.{fid}": [_plain(state.fulfilments.get(fid)), _plain(s)] for fid, s in moved.items()}
    )
    entry = {
        "at": now,
        "actor": actor,
        "event": str(event),
        "from": _plain(state.status),
        "to": _plain(fields.get("status", state.status)),
        "details": {**{k: _plain(v) for k, v in (details or {}).items()}, "changes": changes},
    }
    return Change(fields, moved, expect, (entry,), tuple(dict.fromkeys(outcomes)))


def payment_satisfied(state: OrderState) -> bool:
    """Paid (possibly partly refunded since), or cash on delivery / B2B terms."""
    return state.payment_status in (P.PAID, P.PARTIALLY_REFUNDED) or state.payment_method in (
        PaymentMethod.CASH_ON_DELIVERY,
        PaymentMethod.TERMS,
    )


def ready_for_dispatch(state: OrderState) -> bool:
    """True when the order's fulfilments may go to the warehouses: awaiting shipment (so not
    held, cancelled or rejected), paid or cash on delivery / terms, and no cancel pending."""
    return state.status is OS.AWAITING_SHIPMENT and payment_satisfied(state) and not state.cancel_requested


def _anything_shipped(state: OrderState) -> bool:
    return any(s in PARTLY_OR_ALL_SHIPPED for s in state.live_fulfilments().values())


def parcel_in_exception(state: OrderState) -> bool:
    """A live parcel is in a carrier exception (returned to sender, failed, lost, expired) and its
    flag is still open: the customer cannot be taken to have received the order."""
    return any(s is F.EXCEPTION and fid in state.flagged for fid, s in state.live_fulfilments().items())


def can_reship(state: OrderState, fulfilment_id: str | None = None) -> bool:
    """A live parcel (``fulfilment_id``, or any) is in a carrier exception whose flag is open, on
    an order that shipped (wholly or partly). Once reshipped its flag is resolved: not again."""
    return state.status in (OS.AWAITING_SHIPMENT, OS.SHIPPED) and any(
        s is F.EXCEPTION and fid in state.flagged and fulfilment_id in (None, fid)
        for fid, s in state.live_fulfilments().items())


def can_cancel(state: OrderState) -> bool:
    """Before anything shipped: pending payment, on hold, or awaiting shipment."""
    return state.status in (OS.PENDING_PAYMENT, OS.ON_HOLD) or (
        state.status is OS.AWAITING_SHIPMENT and not _anything_shipped(state)
    )


def can_change_address(state: OrderState) -> bool:
    """Until anything has shipped, while the order is still open."""
    return state.status in (OS.PENDING_PAYMENT, OS.AWAITING_SHIPMENT, OS.ON_HOLD) and not _anything_shipped(
        state
    )


class AfterSalesType(StrEnum):
    REFUND_ONLY = "refund_only"
    RETURN_REFUND = "return_refund"
    EXCHANGE = "exchange"


def can_open_after_sales(state: OrderState, case_type: AfterSalesType | str) -> bool:
    """Refund only: paid and not yet closed. Return and refund: paid and something shipped.
    Exchange: something shipped. Never on a cancelled, rejected, closed or held order."""
    case_type = AfterSalesType(case_type)
    if state.status not in (OS.AWAITING_SHIPMENT, OS.SHIPPED, OS.COMPLETED):
        return False
    paid = state.payment_status in (P.PAID, P.PARTIALLY_REFUNDED)
    shipped = state.shipment_status is not ShipmentStatus.UNSHIPPED
    if case_type is AfterSalesType.REFUND_ONLY:
        return paid
    if case_type is AfterSalesType.RETURN_REFUND:
        return paid and shipped
    return shipped


def order_buttons(state: OrderState) -> tuple[str, ...]:
    """The customer / operator commands the order's current state allows, for the API and
    the console: cancel, change_address, confirm_receipt (not while a parcel is in an open
    exception), approve_hold, reject_hold, reship (a parcel in exception), resolve_exception (open
    exception flags) and ``after_sales.<type>`` for each after-sales case type that may be opened
    (refund only is the refund of an exception)."""
    buttons = []
    if can_cancel(state):
        buttons.append(str(OrderCommand.CANCEL))
    if can_change_address(state):
        buttons.append(str(OrderCommand.CHANGE_ADDRESS))
    if state.status is OS.SHIPPED and not parcel_in_exception(state):
        buttons.append(str(OrderCommand.CONFIRM_RECEIPT))
    if state.status is OS.ON_HOLD:
        buttons += [str(OrderCommand.APPROVE_HOLD), str(OrderCommand.REJECT_HOLD)]
    if can_reship(state):
        buttons.append(str(OrderCommand.RESHIP))
    if state.flagged:
        buttons.append(str(OrderCommand.RESOLVE_EXCEPTION))
    buttons += [f"after_sales.{t}" for t in AfterSalesType if can_open_after_sales(state, t)]
    return tuple(buttons)
