"""Cash on delivery: what the carrier collects for each parcel, and what it has collected.

A delivered cash-on-delivery fulfilment is a payment (``cod`` collected by the carrier) of that
fulfilment's share of the order's payable, what its courier was asked to collect
(``services.dispatch.cod_amount``): its own ``cod_amount`` when routing allocated one (the shares
add up to the payable, freight and tax included), else its ``amounts.payable``, else the order's
payable. The payment is keyed by the fulfilment (``cod:<fulfilment id>``), so a repeated
delivered event collects once. Pure.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from router.statuses import FulfilmentStatus, PaymentEventType, PaymentMethod

COD_METHOD = PaymentMethod.CASH_ON_DELIVERY.value


def transaction_id(fulfilment_id: str) -> str:
    """The payment's key: one collection per fulfilment."""
    return f"cod:{fulfilment_id}"


def share(fulfilment: Mapping, order_payable) -> Decimal:
    """What the carrier collects on delivering ``fulfilment`` (see the module docstring)."""
    amount = fulfilment.get("cod_amount") or (fulfilment.get("amounts") or {}).get("payable")
    return Decimal(str(amount if amount is not None else order_payable or 0))


def collected(payments: Iterable[Mapping] | None) -> Decimal:
    """The cash-on-delivery money the carriers collected, by the order's payment records."""
    return sum((Decimal(str(p.get("amount") or 0)) for p in payments or []
                if p.get("method") == COD_METHOD and p.get("type") == PaymentEventType.PAID), Decimal(0))


def is_collected(payments: Iterable[Mapping] | None, fulfilment_id: str) -> bool:
    key = transaction_id(fulfilment_id)
    return any(p.get("transaction_id") == key and p.get("type") == PaymentEventType.PAID for p in payments or [])


def due_on_delivery(order: Mapping) -> Decimal:
    """What the carriers should have collected for the order's delivered fulfilments (zero for an
    order not paid on delivery)."""
    if order.get("payment_method") != COD_METHOD:
        return Decimal(0)
    payable = order.get("payable")
    if payable is None:
        payable = (order.get("amounts") or {}).get("payable")
    return sum((share(f, payable) for f in order.get("fulfilments") or []
                if f.get("status") == FulfilmentStatus.DELIVERED), Decimal(0))
