"""Money arithmetic: currency rounding, exact allocation, and the payable of an order.

Everything is ``Decimal``; nothing here ever uses float. ``price_order`` splits an order's
goods, discounts and freight down to pieces (one line's units in one fulfilment) and adds
them up again, so ``payable = goods - discount + freight`` holds exactly at every level and
each level sums exactly to the order.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from router.errors import AllocationError
from router.model import Order, RoutingDecision

ZERO = Decimal("0")
# ISO 4217 minor units where they are not 2.
MINOR_UNITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0,
               "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3}
BACKORDERED = "backordered"  # pseudo-fulfilment key for units no warehouse ships yet


def currency_quantum(currency: str) -> Decimal:
    """The smallest amount of ``currency``: Decimal("0.01") for most, "1" for JPY, "0.001" for KWD."""
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency.upper(), 2))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up to the currency's minor unit."""
    return amount.quantize(currency_quantum(currency), rounding=ROUND_HALF_UP)


def allocate(total: Decimal, weights: Sequence[Decimal], quantum: Decimal = Decimal("0.01")) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights`` by largest remainder, exactly.

    The parts are multiples of ``quantum`` and sum to ``total``; leftover quanta go to the
    largest remainders, ties to the earlier weight. All-zero weights split evenly.
    A negative total is split as its absolute value and negated.
    Raises ``AllocationError`` for no weights with a non-zero total, a negative weight, or a
    total that is not a multiple of ``quantum``.
    """
    if not weights:
        if total != 0:
            raise AllocationError(f"cannot allocate {total} over no weights")
        return []
    if any(w < 0 for w in weights):
        raise AllocationError(f"negative weight in {list(weights)}")
    units_d = total / quantum
    if units_d != units_d.to_integral_value():
        raise AllocationError(f"total {total} is not a multiple of {quantum}")
    units = int(units_d)
    sign = -1 if units < 0 else 1
    units = abs(units)
    fw = [Fraction(w) for w in weights]
    whole = sum(fw)
    if whole == 0:
        fw, whole = [Fraction(1)] * len(weights), Fraction(len(weights))
    shares = [units * w / whole for w in fw]
    floors = [int(s) for s in shares]  # shares are >= 0, int() floors
    left = units - sum(floors)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(shares[i] - floors[i]), i))
    for i in by_remainder[:left]:
        floors[i] += 1
    return [quantum * (sign * f) for f in floors]


@dataclass(frozen=True)
class Amounts:
    """Goods, discount, freight and payable; ``payable == goods - discount + freight``."""

    goods: Decimal = ZERO
    discount: Decimal = ZERO
    freight: Decimal = ZERO
    payable: Decimal = ZERO

    @classmethod
    def of(cls, goods: Decimal, discount: Decimal, freight: Decimal) -> Amounts:
        return cls(goods, discount, freight, goods - discount + freight)

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.goods + other.goods, self.discount + other.discount,
                       self.freight + other.freight, self.payable + other.payable)

    def to_dict(self) -> dict[str, str]:
        return {"goods": str(self.goods), "discount": str(self.discount),
                "freight": str(self.freight), "payable": str(self.payable)}


@dataclass(frozen=True)
class OrderPricing:
    """Amounts per line (line_no), fulfilment (fulfilment_id; ``"backordered"`` for units not
    yet in one), merchant sub-order (merchant_id) and for the whole order."""

    currency: str
    order: Amounts
    lines: dict[int, Amounts] = field(default_factory=dict)
    fulfilments: dict[str, Amounts] = field(default_factory=dict)
    merchants: dict[str, Amounts] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"currency": self.currency, "order": self.order.to_dict(),
                "lines": {str(k): v.to_dict() for k, v in self.lines.items()},
                "fulfilments": {k: v.to_dict() for k, v in self.fulfilments.items()},
                "merchants": {k: v.to_dict() for k, v in self.merchants.items()}}


def price_order(order: Order, decision: RoutingDecision) -> OrderPricing:
    """Price ``order`` as routed by ``decision``.

    Line goods are ``unit_price * quantity`` rounded to the currency; line discount is the
    line's own discount plus its share of ``order.order_discount`` (largest remainder, by goods
    after line discount). Freight is ``order.shipping_fee`` when set, allocated over the
    fulfilments and the backordered pseudo-fulfilment by goods value; otherwise each
    fulfilment's ``freight`` from the decision (backorders carry none yet). A line's goods and
    discount go to its fulfilments by quantity, a fulfilment's freight to its pieces by goods.
    Units of a line in neither (a held decision) are priced under ``"backordered"``.
    """
    cur, q = order.currency, currency_quantum(order.currency)
    lines = sorted(order.lines, key=lambda ln: ln.line_no)
    goods = {ln.line_no: quantize(ln.goods, cur) for ln in lines}
    # rounding to the currency may push a discount over what it discounts: never below zero
    own = {ln.line_no: min(quantize(ln.discount, cur), goods[ln.line_no]) for ln in lines}
    nets = [max(ZERO, goods[ln.line_no] - own[ln.line_no]) for ln in lines]
    shares = allocate(min(quantize(order.order_discount, cur), sum(nets, ZERO)), nets, q)
    discount = {ln.line_no: own[ln.line_no] + s for ln, s in zip(lines, shares, strict=True)}
    # pieces: line_no -> [(fulfilment key, quantity)]
    pieces: dict[int, list[tuple[str, int]]] = {ln.line_no: [] for ln in lines}
    merchant_of = {ln.line_no: ln.merchant_id for ln in lines}
    for f in decision.fulfilments:
        for fl in f.lines:
            pieces[fl.line_no].append((f.fulfilment_id, fl.quantity))
    for ln in lines:
        placed = sum(qty for _, qty in pieces[ln.line_no])
        if placed < ln.quantity:  # backordered, or not planned at all (held)
            pieces[ln.line_no].append((BACKORDERED, ln.quantity - placed))
    piece_goods: dict[tuple[int, str], Decimal] = {}
    piece_disc: dict[tuple[int, str], Decimal] = {}
    for n, ps in pieces.items():
        qtys = [Decimal(qty) for _, qty in ps]
        for (key, _), g, d in zip(ps, allocate(goods[n], qtys, q), allocate(discount[n], qtys, q), strict=True):
            piece_goods[(n, key)] = g
            piece_disc[(n, key)] = d
    keys = [f.fulfilment_id for f in decision.fulfilments]
    if any(key == BACKORDERED for ps in pieces.values() for key, _ in ps):
        keys.append(BACKORDERED)
    key_goods = {k: sum((g for (_, kk), g in piece_goods.items() if kk == k), ZERO) for k in keys}
    if order.shipping_fee is not None:
        fee = quantize(order.shipping_fee, cur)
        freight_by_key = dict(zip(keys, allocate(fee, [key_goods[k] for k in keys], q), strict=True))
    else:
        freight_by_key = {f.fulfilment_id: quantize(f.freight, cur) for f in decision.fulfilments}
        freight_by_key[BACKORDERED] = ZERO
    piece_freight: dict[tuple[int, str], Decimal] = {}
    for k in keys:
        members = [(n, k) for n in pieces if (n, k) in piece_goods]
        for pk, fr in zip(members, allocate(freight_by_key.get(k, ZERO), [piece_goods[m] for m in members], q),
                          strict=True):
            piece_freight[pk] = fr
    by_line: dict[int, Amounts] = {n: Amounts() for n in pieces}
    by_key: dict[str, Amounts] = {k: Amounts() for k in keys}
    by_merchant: dict[str, Amounts] = {}
    total = Amounts()
    for (n, k), g in piece_goods.items():
        a = Amounts.of(g, piece_disc[(n, k)], piece_freight.get((n, k), ZERO))
        by_line[n] += a
        by_key[k] += a
        by_merchant[merchant_of[n]] = by_merchant.get(merchant_of[n], Amounts()) + a
        total += a
    return OrderPricing(currency=cur, order=total, lines=by_line, fulfilments=by_key, merchants=by_merchant)


def split_amounts(amounts: Amounts, weights: Sequence[Decimal], currency: str) -> list[Amounts]:
    """Split ``amounts`` over parts in proportion to ``weights``, each component exactly (largest
    remainder), so the parts add up to ``amounts`` and each keeps payable = goods - discount + freight."""
    q = currency_quantum(currency)
    goods = allocate(amounts.goods, weights, q)
    discount = allocate(amounts.discount, weights, q)
    freight = allocate(amounts.freight, weights, q)
    return [Amounts.of(g, d, f) for g, d, f in zip(goods, discount, freight, strict=True)]
