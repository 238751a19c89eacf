"""Specific exceptions of the router's domain, mapped to HTTP codes in one place (adapters/).

Shared by several modules: add new exceptions, do not rename existing ones.
"""
from __future__ import annotations


class RouterError(Exception):
    """Base of every domain error raised by ``router/``."""


# --- routing and pricing (router/routing.py, router/rules.py, router/freight.py, router/money.py)


class InvalidRoutingRules(RouterError, ValueError):
    """A routing-rules or freight document failed validation.

    ``field`` is a dotted path into the document (``strategies[1].scoring.weights.distance``),
    ``message`` says what is wrong with it.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class InvalidDecisionRecord(RouterError, ValueError):
    """A stored routing explanation cannot be replayed (missing or malformed ``inputs``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class AllocationError(RouterError, ValueError):
    """Money cannot be allocated as asked (negative weights, total off the quantum, no weights)."""


# --- lifecycle state machines (router/lifecycle.py, router/fulfilment_flow.py, router/after_sales.py)


class IllegalTransition(RouterError):
    """A command or event that the current state of a state machine does not allow.

    ``machine`` is ``"order"``, ``"payment"``, ``"fulfilment"`` or ``"after_sales"``;
    ``current`` the status it is in; ``command`` what was asked; ``allowed`` the commands
    the current state does allow (sorted), so the HTTP layer can answer 409 with them.
    """

    def __init__(self, machine: str, current: str, command: str, allowed: tuple[str, ...] = ()) -> None:
        self.machine = machine
        self.current = str(current)
        self.command = str(command)
        self.allowed = tuple(str(a) for a in allowed)
        super().__init__(
            f"{machine}: {command!s} is not allowed in {current!s} (allowed: {', '.join(self.allowed) or 'none'})"
        )


class RefundExceedsPaid(RouterError, ValueError):
    """An after-sales refund asks for more than was paid and not yet refunded or promised."""

    def __init__(self, requested, refundable) -> None:
        self.requested = requested
        self.refundable = refundable
        super().__init__(f"refund of {requested} exceeds the refundable {refundable}")
