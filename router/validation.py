"""Business validation and risk rules for a canonical order, against the catalogue.

Schema errors (types, required fields) are caught at the edge; these are the checks that need
reference data. ``validate_order`` finds reasons to reject; ``assess_risk`` finds reasons to hold
for review. Both return lists of :class:`Problem` (empty: all good).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from router.model import Network, Order
from router.risk import RiskRules, VelocityCount, address_key, blacklist_key, normal, phone_key, same_phone


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


def assess_risk(order: Order, network: Network, policy: RiskPolicy = RiskPolicy(), rules: RiskRules | None = None,
                velocity: tuple[VelocityCount, ...] | list[VelocityCount] = ()) -> list[Problem]:
    """Reasons to hold the order for a human: very large value or quantity, prices far under list;
    with configured ``rules`` (router/risk.py) also blacklisted customers, phones and addresses,
    velocity breaches (``velocity``: the other orders counted per rule, an input) and each
    merchant's own abnormal quantity and amount thresholds, which replace the built-in ones for
    that merchant. Every rule problem names the rule that fired and the rules' version."""
    problems: list[Problem] = []
    configured = {line.merchant_id for line in order.lines if rules is not None and rules.thresholds(line.merchant_id)}
    goods = sum((line.goods for line in order.lines), Decimal("0"))
    if not configured and goods > policy.max_order_value:
        problems.append(Problem("lines", "high_value", f"order value {goods} exceeds {policy.max_order_value}"))
    for i, line in enumerate(order.lines):
        if line.merchant_id not in configured and line.quantity > policy.max_line_quantity:
            problems.append(Problem(f"lines.{i}.quantity", "high_quantity",
                                    f"quantity {line.quantity} exceeds {policy.max_line_quantity}"))
        sku = network.skus.get(line.sku)
        if sku is not None and sku.price > 0 and line.unit_price < sku.price * policy.min_price_ratio:
            problems.append(Problem(f"lines.{i}.unit_price", "price_below_list",
                                    f"unit price {line.unit_price} is far below list price {sku.price}"))
    if order.customer.id and order.customer.id in policy.blocked_customers:
        problems.append(Problem("customer.id", "blocked_customer", "customer is blocked"))
    if rules is not None:
        problems += _rule_problems(order, rules, velocity)
    return problems


def _fired(rules: RiskRules, rule: str, text: str) -> str:
    return f"risk rule {rule} (rules {rules.version}) fired: {text}"


def _rule_problems(order: Order, rules: RiskRules, velocity) -> list[Problem]:
    return _blacklisted(order, rules) + _velocity_breaches(rules, velocity) + _abnormal(order, rules)


def _added(entry) -> str:
    return f" (added by {entry.added_by})" if entry.added_by else ""


def _blacklisted(order: Order, rules: RiskRules) -> list[Problem]:
    problems: list[Problem] = []
    phones = [(f, phone_key(p)) for f, p in (("customer.phone", order.customer.phone),
                                             ("shipping_address.phone", order.address.phone)) if phone_key(p)]
    street = address_key(order.address.lines)
    for i, entry in enumerate(rules.customers):
        if order.customer.id and entry.value == order.customer.id:
            problems.append(Problem("customer.id", "blacklisted_customer", _fired(
                rules, f"blacklist.customers[{i}]",
                f"customer {entry.value!r} is blacklisted: {entry.reason}{_added(entry)}")))
    for i, entry in enumerate(rules.phones):
        hit = next((f for f, key in phones if same_phone(key, blacklist_key("phones", entry.value))), None)
        if hit:
            problems.append(Problem(hit, "blacklisted_phone", _fired(
                rules, f"blacklist.phones[{i}]", f"phone {entry.value} is blacklisted: {entry.reason}{_added(entry)}")))
    for i, entry in enumerate(rules.addresses):
        if street and street == blacklist_key("addresses", entry.value) \
                and (not entry.postcode or normal(entry.postcode) == normal(order.address.postcode)) \
                and (not entry.country or entry.country == order.address.country):
            problems.append(Problem("shipping_address.lines", "blacklisted_address", _fired(
                rules, f"blacklist.addresses[{i}]",
                f"address {entry.value!r} is blacklisted: {entry.reason}{_added(entry)}")))
    return problems


def _velocity_breaches(rules: RiskRules, velocity) -> list[Problem]:
    problems: list[Problem] = []
    where = {"customer": "customer.id", "phone": "customer.phone", "address": "shipping_address.lines"}
    for count in velocity:
        if not 0 <= count.rule < len(rules.velocity):
            continue
        rule = rules.velocity[count.rule]
        if count.others + 1 > rule.max_orders:
            problems.append(Problem(where[rule.key], f"velocity_{rule.key}", _fired(
                rules, f"velocity[{count.rule}]", f"{count.others + 1} orders of this {rule.key} within "
                f"{rule.window_minutes} minutes (at most {rule.max_orders})")))
    return problems


def _abnormal(order: Order, rules: RiskRules) -> list[Problem]:
    problems: list[Problem] = []
    for merchant in sorted({line.merchant_id for line in order.lines}):
        limits = rules.thresholds(merchant)
        if limits is None:
            continue
        name = f"merchants.{rules.rule_of(merchant)}"
        mine = [(i, line) for i, line in enumerate(order.lines) if line.merchant_id == merchant]
        for i, line in mine:
            if limits.max_line_quantity is not None and line.quantity > limits.max_line_quantity:
                problems.append(Problem(f"lines.{i}.quantity", "abnormal_quantity", _fired(
                    rules, f"{name}.max_line_quantity", f"quantity {line.quantity} of {line.sku} exceeds "
                    f"{limits.max_line_quantity} for merchant {merchant}")))
        units = sum(line.quantity for _, line in mine)
        if limits.max_order_quantity is not None and units > limits.max_order_quantity:
            problems.append(Problem("lines", "abnormal_quantity", _fired(
                rules, f"{name}.max_order_quantity", f"{units} units for merchant {merchant} exceed "
                f"{limits.max_order_quantity}")))
        amount = sum((line.goods - line.discount for _, line in mine), Decimal("0"))
        if limits.max_order_amount is not None and amount > limits.max_order_amount:
            problems.append(Problem("lines", "abnormal_amount", _fired(
                rules, f"{name}.max_order_amount", f"{amount} {order.currency} for merchant {merchant} exceeds "
                f"{limits.max_order_amount}")))
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
