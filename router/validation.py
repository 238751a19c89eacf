"""Business validation and risk rules for a canonical order, against the catalogue.

Schema errors (types, required fields) are caught at the edge; these are the checks that need
reference data. ``validate_order`` finds reasons to reject; ``assess_risk`` finds reasons to hold
for review. Both return lists of :class:`Problem` (empty: all good).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from router.model import Network, Order


@dataclass(frozen=True)
class Problem:
    field: str  # the field path in the canonical order, e.g. "lines.2.sku"
    code: str
    message: str


@dataclass(frozen=True)
class RiskPolicy:
    max_order_value: Decimal = Decimal("20000")
    max_line_quantity: int = 200
    min_price_ratio: Decimal = Decimal("0.3")  # unit price below 30% of catalogue: review
    blocked_customers: frozenset[str] = field(default_factory=frozenset)


def validate_order(order: Order, network: Network) -> list[Problem]:
    """Unknown SKUs, a line's merchant not owning its SKU, an address without a country."""
    problems: list[Problem] = []
    for i, line in enumerate(order.lines):
        sku = network.skus.get(line.sku)
        if sku is None:
            problems.append(Problem(f"lines.{i}.sku", "unknown_sku", f"unknown SKU {line.sku!r}"))
        elif sku.merchant_id != line.merchant_id:
            problems.append(Problem(f"lines.{i}.merchant_id", "wrong_merchant",
                                    f"SKU {line.sku!r} belongs to merchant {sku.merchant_id!r}"))
        if line.discount > line.goods:
            problems.append(Problem(f"lines.{i}.discount", "discount_exceeds_goods",
                                    "line discount is larger than the line's goods value"))
    if not order.address.country:
        problems.append(Problem("shipping_address.country", "missing", "country is required"))
    goods = sum((line.goods - line.discount for line in order.lines), Decimal("0"))
    if order.order_discount > goods:
        problems.append(Problem("discounts", "discount_exceeds_goods", "order discounts exceed the goods value"))
    return problems


def assess_risk(order: Order, network: Network, policy: RiskPolicy = RiskPolicy()) -> list[Problem]:
    """Reasons to hold the order for a human: very large value or quantity, prices far under list."""
    problems: list[Problem] = []
    goods = sum((line.goods for line in order.lines), Decimal("0"))
    if goods > policy.max_order_value:
        problems.append(Problem("lines", "high_value", f"order value {goods} exceeds {policy.max_order_value}"))
    for i, line in enumerate(order.lines):
        if line.quantity > policy.max_line_quantity:
            problems.append(Problem(f"lines.{i}.quantity", "high_quantity",
                                    f"quantity {line.quantity} exceeds {policy.max_line_quantity}"))
        sku = network.skus.get(line.sku)
        if sku is not None and sku.price > 0 and line.unit_price < sku.price * policy.min_price_ratio:
            problems.append(Problem(f"lines.{i}.unit_price", "price_below_list",
                                    f"unit price {line.unit_price} is far below list price {sku.price}"))
    if order.customer.id and order.customer.id in policy.blocked_customers:
        problems.append(Problem("customer.id", "blocked_customer", "customer is blocked"))
    return problems


def amount_problems(order: Order, payable: Decimal) -> list[Problem]:
    """The total the channel says the customer pays (``stated_total``) against the router's
    ``payable``: a difference is a reason to hold the order for review (``amount_mismatch``,
    with both figures), never to route it silently. Nothing when the channel states no total."""
    if order.stated_total is None or order.stated_total == payable:
        return []
    cur = order.currency
    return [Problem("stated_total", "amount_mismatch",
                    f"the channel states {order.stated_total} {cur}, the router's payable is {payable} {cur} "
                    f"(off by {payable - order.stated_total})")]
