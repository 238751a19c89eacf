"""The order lifecycle: the decisions that move an order, its payment and its fulfilments.

Every decision takes an :class:`~router.order_state.OrderState` snapshot and ``now`` and
returns a :class:`~router.order_state.Change` (new field values, fulfilment statuses,
timeline entries, outcomes the caller must act on) or raises
:class:`~router.errors.IllegalTransition`. Nothing here reads a clock or touches storage:
the caller loads, decides, persists the change with a guarded update on ``Change.expect``,
and acts on ``Change.outcomes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from router.after_sales import AFTER_SALES_TRANSITIONS, AfterSalesType
from router.errors import IllegalTransition, RefundExceedsPaid
from router.fulfilment_flow import (
    AT_WAREHOUSE,
    NOT_YET_DISPATCHED,
    SHIPPED_OR_LATER,
    FulfilmentCommand,
    apply_event,
    derive_shipment_status,
    transition,
)
from router.fulfilment_flow import TRANSITIONS as FULFILMENT_TRANSITIONS
from router.fulfilment_flow import TRANSITIONS, commands_from
from router.order_state import (
    ORDER_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    Change,
    OrderCommand,
    OrderState,
    Outcome,
    PaymentCommand,
    can_cancel,
    can_change_address,
    can_reship,
    decide,
    order_buttons,
    parcel_in_exception,
    payment_satisfied,
    ready_for_dispatch,
)
from router.statuses import (
    FulfilmentStatus,
    OrderStatus,
    PaymentEventType,
    PaymentMethod,
    PaymentStatus,
    RoutingState,
    ShipmentStatus,
    TrackingStatus,
    WmsEventType,
)

__all__ = [
    "DIRECT_STEPS", "ORDER_TRANSITIONS", "PAYMENT_TRANSITIONS", "Change", "OrderCommand", "OrderState", "Outcome",
    "PaymentCommand", "allowed_commands", "approve_hold", "cancel", "change_address", "confirm_receipt",
    "derive_shipment_status", "direct_step", "expire_unpaid", "on_backorder_cancelled", "on_fulfilment_event",
    "on_intercept_failed", "on_intercepted", "on_payment", "on_routed", "ready_for_dispatch", "reject_hold",
    "reship", "resolve_exceptions",
]

OS, P, F, C = OrderStatus, PaymentStatus, FulfilmentStatus, OrderCommand


def _ready_outcome(before: OrderState, change: Change) -> Change:
    if not ready_for_dispatch(before) and ready_for_dispatch(change.apply(before)):
        return replace(change, outcomes=(*change.outcomes, Outcome.READY_FOR_DISPATCH))
    return change


def _stop_undispatched(state: OrderState) -> dict[str, FulfilmentStatus]:
    return {fid: F.CANCELLED for fid, s in state.fulfilments.items() if s in NOT_YET_DISPATCHED}


def _unwanted_money(state: OrderState) -> tuple[Outcome, ...]:
    return (Outcome.REFUND_DUE,) if state.paid_amount > state.refunded_amount else ()


def _stop_order(state: OrderState, now, actor, event, command, details=None) -> Change:
    """Cancel or reject: stop what has not reached a warehouse, flag money to give back."""
    stopped = _stop_undispatched(state)
    refund = _unwanted_money(state)
    return decide(
        state, now, actor, event, commands=(command,), fulfilments=stopped,
        fields={"refund_due": True} if refund else None,
        outcomes=((Outcome.RELEASE_STOCK,) if stopped else ()) + refund,
        details={**(details or {}), "stopped": sorted(stopped)},
    )


def on_routed(
    state: OrderState,
    decision_kind: RoutingState | str,
    now: datetime,
    actor: str = "system",
    fulfilments: Mapping[str, FulfilmentStatus] | None = None,
) -> Change:
    """Routing finished: ``decision_kind`` is ``routed`` or ``backordered`` (the order waits
    for payment, or awaits shipment when paid / cash on delivery / terms), ``held``
    (on_hold) or ``rejected``. ``fulfilments`` (id -> status) are the new fulfilments.

    Raises :class:`IllegalTransition` when the order is not in a routable status and
    ``ValueError`` for ``received``.
    """
    kind = RoutingState(decision_kind)
    new = dict(fulfilments or {})
    if kind in (RoutingState.ROUTED, RoutingState.BACKORDERED):
        commands: tuple[OrderCommand, ...] = (C.ROUTE,)
        if state.status is OS.PENDING_PAYMENT and payment_satisfied(state):
            commands += (C.PAYMENT_SATISFIED,)
        change = decide(state, now, actor, f"routing.{kind}", commands=commands, fulfilments=new)
        return _ready_outcome(state, change)
    if kind is RoutingState.HELD:
        return decide(state, now, actor, "routing.held", commands=(C.HOLD,), fulfilments=new)
    if kind is RoutingState.REJECTED:
        return _stop_order(
            replace(state, fulfilments={**state.fulfilments, **new}), now, actor, "routing.rejected", C.REJECT
        )
    raise ValueError(f"not a routing outcome: {kind}")


def on_payment(
    state: OrderState, kind: PaymentEventType | str, amount: Decimal, now: datetime, actor: str = "payment"
) -> Change:
    """A payment notice: ``paid``, ``failed`` or ``refunded`` for ``amount`` (> 0 except
    for ``failed``).

    paid: pending_payment -> awaiting_shipment once paid in full (less is recorded as
    underpaid); on a cancelled / rejected / closed order, or paid twice, the money is
    recorded and ``refund_due`` set, the order is not reopened (a cash-on-delivery or terms order
    closed unpaid takes the payment it was waiting for). failed: payment_status
    failed, the order stays payable. refunded: partially_refunded or refunded by amount;
    fully refunded orders awaiting shipment, shipped or completed become closed.
    Raises :class:`IllegalTransition` for a refund of an unpaid or refunded order,
    :class:`~router.errors.RefundExceedsPaid` above what was paid, ``ValueError`` for a
    bad amount.
    """
    kind = PaymentEventType(kind)
    amount = Decimal(amount)
    if amount < 0 or (amount == 0 and kind is not PaymentEventType.FAILED):
        raise ValueError(f"payment amount must be positive, got {amount}")
    event, details = f"payment.{kind}", {"amount": amount}
    if kind is PaymentEventType.FAILED:
        if state.payment_status not in (P.UNPAID, P.FAILED):
            return decide(state, now, actor, event, details={**details, "ignored": "already paid"})
        failed = transition("payment", PAYMENT_TRANSITIONS, state.payment_status, PaymentCommand.FAILED)
        return decide(state, now, actor, event, fields={"payment_status": failed}, details=details)
    if kind is PaymentEventType.PAID:
        paid = state.paid_amount + amount
        fields: dict[str, Any] = {"paid_amount": paid}
        unpaid = state.payment_status in (P.UNPAID, P.FAILED)
        if unpaid and paid >= state.payable:
            fields["payment_status"] = P.PAID
        closed_unpaid = state.status is OS.CLOSED and state.payment_method is not PaymentMethod.ONLINE
        if state.status in (OS.CANCELLED, OS.REJECTED) or (state.status is OS.CLOSED and not closed_unpaid) \
                or not unpaid:
            return decide(
                state, now, actor, event, fields={**fields, "refund_due": True},
                outcomes=(Outcome.REFUND_DUE,), details={**details, "refund": "not reopened"},
            )
        if paid < state.payable:
            return decide(
                state, now, actor, event, fields=fields,
                details={**details, "underpaid": state.payable - paid},
            )
        commands = (C.PAYMENT_SATISFIED,) if state.status is OS.PENDING_PAYMENT else ()
        return _ready_outcome(
            state, decide(state, now, actor, event, commands=commands, fields=fields, details=details)
        )
    refunded = state.refunded_amount + amount
    if refunded > state.paid_amount:
        raise RefundExceedsPaid(amount, state.paid_amount - state.refunded_amount)
    full = refunded == state.paid_amount
    pay_cmd = PaymentCommand.REFUND_FULL if full else PaymentCommand.REFUND_PARTIAL
    fields = {
        "refunded_amount": refunded,
        "payment_status": transition("payment", PAYMENT_TRANSITIONS, state.payment_status, pay_cmd),
    }
    if not full:
        return decide(state, now, actor, event, fields=fields, details=details)
    fields["refund_due"] = False
    if (state.status, C.FULLY_REFUNDED) not in ORDER_TRANSITIONS:
        return decide(state, now, actor, event, fields=fields, details=details)
    stopped = _stop_undispatched(state)
    at_warehouse = sorted(fid for fid, s in state.fulfilments.items() if s in AT_WAREHOUSE)
    outcomes = ((Outcome.RELEASE_STOCK,) if stopped else ()) + (
        (Outcome.INTERCEPT_REQUESTED,) if at_warehouse else ()
    )
    return decide(
        state, now, actor, event, commands=(C.FULLY_REFUNDED,), fulfilments=stopped,
        fields={**fields, "cancel_requested": bool(at_warehouse) or state.cancel_requested},
        outcomes=outcomes, details={**details, "stopped": sorted(stopped), "intercept": at_warehouse},
    )


def on_fulfilment_event(
    state: OrderState, fulfilment_id: str, event: str, now: datetime, actor: str = "system"
) -> Change:
    """Apply a router command (``FulfilmentCommand``), WMS event (``WmsEventType``) or
    canonical tracking status (``TrackingStatus``) to one fulfilment, and follow through
    on the order: every live fulfilment shipped -> order shipped; every fulfilment
    intercepted after a cancel -> order cancelled; a dispatch failure -> ``reroute``.

    Stale events (late scans, repeated acks) give a no-op change that records them.
    Raises ``KeyError`` for an unknown fulfilment and :class:`IllegalTransition` when the
    fulfilment machine refuses the event, or for ``dispatch`` while not ready for dispatch.
    """
    current = state.fulfilments[fulfilment_id]
    moves = (current, event) in FULFILMENT_TRANSITIONS
    if event == FulfilmentCommand.DISPATCH and moves and not ready_for_dispatch(state):
        raise IllegalTransition("order", state.status, "dispatch", allowed_commands(state))
    new = apply_event(current, event)
    details = {"fulfilment_id": fulfilment_id}
    if new is current:
        return decide(state, now, actor, f"fulfilment.{event}", details={**details, "ignored": "stale"})
    after = replace(state, fulfilments={**state.fulfilments, fulfilment_id: new})
    live = after.live_fulfilments()
    commands: tuple[OrderCommand, ...] = ()
    fields: dict = {}
    outcomes: tuple[Outcome, ...] = ()
    if new is F.CANCELLED:
        outcomes += (Outcome.RELEASE_STOCK,)
        if live and not state.cancel_requested:  # a part of a paid order stopped, the rest goes on
            outcomes += _unwanted_money(state)
    if new is F.DISPATCH_FAILED and state.status is OS.AWAITING_SHIPMENT:
        outcomes += (Outcome.REROUTE,)
    # units still backordered are not shipped: the order ships with its last unit, not before
    all_shipped = bool(live) and all(s in SHIPPED_OR_LATER for s in live.values()) and not state.backordered_units
    if state.status is OS.AWAITING_SHIPMENT and all_shipped:
        commands = (C.SHIP,)
        if state.cancel_requested:  # an intercept came too late: the parcel won
            fields["cancel_requested"] = False
            outcomes += (Outcome.ALERT_OPERATOR,)
    if not live and state.cancel_requested:  # the last intercept came back: the cancel is done
        fields["cancel_requested"] = False
        if (state.status, C.CANCEL) in ORDER_TRANSITIONS:
            commands = (C.CANCEL,)
            if _unwanted_money(state):
                fields["refund_due"] = True
                outcomes += (Outcome.REFUND_DUE,)
    return decide(
        state, now, actor, f"fulfilment.{event}", commands=commands, fields=fields,
        fulfilments={fulfilment_id: new}, outcomes=outcomes, details=details,
    )


# The events a warehouse or carrier sends that may be applied without reading the order (at the
# edge that receives them, services/direct_events.py): event word -> (the statuses the fulfilment
# may be in before it, the states of the order it may be applied on, each an order status and,
# where it matters, a shipment status), each list the likeliest first. Each moves its fulfilment
# within one stage (label_created only joins the history), so in such a state, with no cancel
# asked and no open flag on the fulfilment, the lifecycle's change is the same whatever else the
# order holds (its siblings, backorders, payment): tests/unit/test_direct_steps.py shows it. The
# write is guarded on exactly these. A parcel with the carrier while the order awaits shipment:
# something else of it has not shipped (partially_shipped). A warehouse's acceptance may come
# before the router recorded its own dispatch (the fulfilment still reserved).
_AT_WAREHOUSE_ORDER = ((OrderStatus.AWAITING_SHIPMENT, None),)
_ON_THE_WAY_ORDER = ((OrderStatus.SHIPPED, None), (OrderStatus.AWAITING_SHIPMENT, ShipmentStatus.PARTIALLY_SHIPPED))
DIRECT_STEPS: dict[str, tuple[tuple[FulfilmentStatus, ...], tuple[tuple[OrderStatus, ShipmentStatus | None], ...]]] = {
    WmsEventType.ACCEPTED: ((FulfilmentStatus.DISPATCHED, FulfilmentStatus.RESERVED), _AT_WAREHOUSE_ORDER),
    WmsEventType.PICKED: ((FulfilmentStatus.ACCEPTED,), _AT_WAREHOUSE_ORDER),
    WmsEventType.PACKED: ((FulfilmentStatus.PICKED,), _AT_WAREHOUSE_ORDER),
    TrackingStatus.LABEL_CREATED: ((FulfilmentStatus.SHIPPED,), _ON_THE_WAY_ORDER),
    TrackingStatus.IN_TRANSIT: ((FulfilmentStatus.SHIPPED,), _ON_THE_WAY_ORDER),
    TrackingStatus.OUT_FOR_DELIVERY: ((FulfilmentStatus.IN_TRANSIT,), _ON_THE_WAY_ORDER),
}


def direct_step(order_id: str, fulfilment_id: str, event: str, now: datetime, actor: str,
                before: FulfilmentStatus, order: tuple[OrderStatus, ShipmentStatus | None]) -> Change:
    """The change ``event`` (in ``DIRECT_STEPS``) makes on an order in state ``order`` whose
    fulfilment ``fulfilment_id`` is at ``before`` (both among the event's there; not
    cancel-requested, the fulfilment not flagged), decided without the rest of the order."""
    befores, states = DIRECT_STEPS[event]
    if before not in befores or order not in states:
        raise ValueError(f"{event} is not applied directly on a fulfilment {before} of an order {order}")
    status, shipment = order
    outstanding = shipment is ShipmentStatus.PARTIALLY_SHIPPED  # stands for whatever has not shipped
    state = OrderState(order_id=order_id, status=status, fulfilments={fulfilment_id: before},
                       shipment_status=derive_shipment_status([before], outstanding=outstanding),
                       backordered_units=1 if outstanding else 0)
    return on_fulfilment_event(state, fulfilment_id, event, now, actor)


def on_backorder_cancelled(state: OrderState, remaining_units: int, now: datetime, actor: str = "system",
                           details: Mapping | None = None) -> Change:
    """Backordered units were cancelled (they waited too long for stock), ``remaining_units``
    still wait. The shipment status follows; once nothing waits and every live fulfilment has
    shipped, the order ships (awaiting_shipment -> shipped). Units of an order with no live
    fulfilment left are not cancelled here: that is cancelling the order (:func:`cancel`)."""
    if remaining_units < 0 or remaining_units > state.backordered_units:
        raise ValueError(f"{remaining_units} units cannot remain of {state.backordered_units} backordered")
    after = replace(state, backordered_units=remaining_units)
    live = after.live_fulfilments()
    commands: tuple[OrderCommand, ...] = ()
    if state.status is OS.AWAITING_SHIPMENT and not remaining_units and live \
            and all(s in SHIPPED_OR_LATER for s in live.values()):
        commands = (C.SHIP,)
    fields = {"shipment_status": derive_shipment_status(live.values(), outstanding=remaining_units > 0)}
    return decide(after, now, actor, "order.backorder_cancelled", commands=commands, fields=fields,
                  details={**(details or {}), "remaining_units": remaining_units})


def on_intercepted(state: OrderState, fulfilment_id: str, now: datetime, actor: str = "system") -> Change:
    """The WMS stopped a dispatched fulfilment: it is cancelled, its stock released, and the
    order cancelled once nothing of it is left. Raises as :func:`on_fulfilment_event`."""
    return on_fulfilment_event(state, fulfilment_id, WmsEventType.INTERCEPTED, now, actor)


def on_intercept_failed(
    state: OrderState, fulfilment_id: str, now: datetime, actor: str = "system"
) -> Change:
    """The WMS could not stop a fulfilment (already left): the cancel request lapses, the
    order carries on (the customer turns to after-sales); what the cancel did stop of a paid
    order is money due back (``refund_due``)."""
    stopped = any(s is F.CANCELLED for s in state.fulfilments.values())
    return decide(
        state, now, actor, "fulfilment.intercept_failed", fields={"cancel_requested": False},
        outcomes=(Outcome.ALERT_OPERATOR,) + (_unwanted_money(state) if stopped else ()),
        details={"fulfilment_id": fulfilment_id},
    )


def _refuse(state: OrderState, command: str) -> IllegalTransition:
    return IllegalTransition("order", state.status, command, allowed_commands(state))


def cancel(state: OrderState, actor: str, now: datetime) -> Change:
    """Cancel the order. Before any fulfilment reached a warehouse: cancelled, with
    ``release_stock`` (and ``refund_due`` when paid). Some at a warehouse, none shipped:
    the rest is cancelled, ``cancel_requested`` set, outcome ``intercept_requested``
    (ask the WMS, then call :func:`on_intercepted` / :func:`on_intercept_failed`); asking
    again repeats the outcome. Shipped or later: :class:`IllegalTransition` (use after-sales).
    """
    if not can_cancel(state):
        raise _refuse(state, C.CANCEL)
    at_warehouse = sorted(fid for fid, s in state.fulfilments.items() if s in AT_WAREHOUSE)
    if not at_warehouse:
        return _stop_order(state, now, actor, "order.cancel", C.CANCEL)
    stopped = _stop_undispatched(state)
    return decide(
        state, now, actor, "order.cancel", fields={"cancel_requested": True}, fulfilments=stopped,
        outcomes=((Outcome.RELEASE_STOCK,) if stopped else ()) + (Outcome.INTERCEPT_REQUESTED,),
        details={"intercept": at_warehouse, "stopped": sorted(stopped)},
    )


def change_address(state: OrderState, actor: str, now: datetime, address: Mapping | None = None) -> Change:
    """Record a new shipping address (in the timeline details; the caller stores it), until
    anything has shipped; ``update_wms_address`` when a warehouse already has a fulfilment.
    Raises :class:`IllegalTransition` once shipped, cancelled, rejected, completed or closed."""
    if not can_change_address(state):
        raise _refuse(state, C.CHANGE_ADDRESS)
    dispatched = sorted(fid for fid, s in state.fulfilments.items() if s in AT_WAREHOUSE)
    return decide(
        state, now, actor, "order.change_address", commands=(C.CHANGE_ADDRESS,),
        outcomes=(Outcome.UPDATE_WMS_ADDRESS,) if dispatched else (),
        details={"address": dict(address or {}), "update_wms": dispatched},
    )


def confirm_receipt(state: OrderState, actor: str, now: datetime) -> Change:
    """shipped -> completed (``actor`` ``system`` records the automatic confirmation).
    Raises :class:`IllegalTransition` in any other status, and while a parcel is in an open
    carrier exception (returned to sender, lost: the customer did not receive it)."""
    command = C.AUTO_CONFIRM_RECEIPT if actor == "system" else C.CONFIRM_RECEIPT
    if state.status is not OS.SHIPPED or parcel_in_exception(state):
        raise _refuse(state, command)
    return decide(state, now, actor, f"order.{command}", commands=(command,))


def resolve_exceptions(state: OrderState, actor: str, now: datetime, resolution: str = "resolved",
                       details: Mapping | None = None) -> Change:
    """An operator marks the order's open exception flags resolved (the caller stamps them,
    ``router/exceptions.py``); nothing else changes. Raises :class:`IllegalTransition` when no
    flag is open."""
    if not state.flagged:
        raise _refuse(state, C.RESOLVE_EXCEPTION)
    return decide(state, now, actor, "order.resolve_exception",
                  details={**(details or {}), "resolution": resolution, "flagged": sorted(state.flagged)})


def reship(state: OrderState, fulfilment_id: str, actor: str, now: datetime) -> Change:
    """Send the goods of a parcel in a carrier exception again (the caller places them as a
    replacement order, from another warehouse); the parcel's flag is resolved with it. Raises
    :class:`IllegalTransition` unless that fulfilment is in exception, its flag open, on a
    shipped order."""
    if not can_reship(state, fulfilment_id):
        raise _refuse(state, C.RESHIP)
    return decide(state, now, actor, "order.reship", details={"fulfilment_id": fulfilment_id})


def approve_hold(state: OrderState, actor: str, now: datetime) -> Change:
    """on_hold -> pending_payment, or awaiting_shipment when paid / cash on delivery / terms;
    outcome ``resume_routing``. Raises :class:`IllegalTransition` unless on hold."""
    if state.status is not OS.ON_HOLD:
        raise _refuse(state, C.APPROVE_HOLD)
    commands = (C.APPROVE_HOLD,) + ((C.PAYMENT_SATISFIED,) if payment_satisfied(state) else ())
    change = decide(
        state, now, actor, "order.approve_hold", commands=commands, outcomes=(Outcome.RESUME_ROUTING,),
    )
    return _ready_outcome(state, change)


def reject_hold(state: OrderState, actor: str, now: datetime, reason: str = "") -> Change:
    """on_hold -> rejected: stock released, ``refund_due`` when paid. Raises
    :class:`IllegalTransition` unless on hold."""
    if state.status is not OS.ON_HOLD:
        raise _refuse(state, C.REJECT_HOLD)
    return _stop_order(state, now, actor, "order.reject_hold", C.REJECT_HOLD, {"reason": reason})


def expire_unpaid(state: OrderState, now: datetime) -> Change:
    """The unpaid-order timer: pending_payment -> cancelled, stock released. Raises
    :class:`IllegalTransition` when the order is no longer pending payment."""
    return _stop_order(state, now, "system", "timer.expire_unpaid", C.EXPIRE_UNPAID)


def allowed_commands(
    machine_or_state: OrderState | str, current: str | None = None, case_type: str | None = None
) -> tuple[str, ...]:
    """What may be done now.

    With an :class:`OrderState`: the customer / operator buttons its state allows (see
    ``order_state.order_buttons``). With a machine name (``order``, ``payment``,
    ``fulfilment``, ``after_sales`` plus ``case_type``) and a ``current`` status: the
    commands that machine's table allows from it, sorted. Raises ``ValueError`` for an
    unknown machine.
    """
    if isinstance(machine_or_state, OrderState):
        return order_buttons(machine_or_state)
    tables: dict[str, Mapping] = {"order": ORDER_TRANSITIONS, "payment": PAYMENT_TRANSITIONS, "fulfilment": TRANSITIONS}
    if machine_or_state == "after_sales":
        if case_type is None:
            raise ValueError("after_sales needs a case_type")
        return commands_from(AFTER_SALES_TRANSITIONS[AfterSalesType(case_type)], current)
    if machine_or_state not in tables:
        raise ValueError(f"unknown machine {machine_or_state!r}")
    return commands_from(tables[machine_or_state], current)
