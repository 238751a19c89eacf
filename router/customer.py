"""What a customer may do to their own order: a subset of the operator's buttons, under the same
state rules, and a cancel only before anything reached a warehouse (an operator's cancel may
ask the warehouses to intercept; a customer's may not: once dispatched they open an after-sales
case instead)."""
from __future__ import annotations

from router.errors import IllegalTransition
from router.fulfilment_flow import AT_WAREHOUSE
from router.order_state import OrderCommand, OrderState, order_buttons

CUSTOMER_COMMANDS = (OrderCommand.CANCEL, OrderCommand.CHANGE_ADDRESS, OrderCommand.CONFIRM_RECEIPT)
AFTER_SALES_PREFIX = "after_sales."


def dispatched(state: OrderState) -> bool:
    """Some fulfilment is at a warehouse, or a cancel already waits for the warehouses."""
    return state.cancel_requested or any(s in AT_WAREHOUSE for s in state.fulfilments.values())


def customer_commands(state: OrderState) -> tuple[str, ...]:
    """The commands the order's state allows its customer: cancel (before dispatch), change
    address, confirm receipt, and ``after_sales.<type>`` for each case type that may be opened."""
    allowed = []
    for command in order_buttons(state):
        if command == OrderCommand.CANCEL and dispatched(state):
            continue
        if command in CUSTOMER_COMMANDS or command.startswith(AFTER_SALES_PREFIX):
            allowed.append(command)
    return tuple(allowed)


def check_customer_command(state: OrderState, command: str) -> None:
    """Raise :class:`IllegalTransition` (409 with the customer's allowed commands) unless the
    customer may run ``command`` now."""
    allowed = customer_commands(state)
    if command not in allowed:
        raise IllegalTransition("order", state.status, command, allowed)
