"""Money arithmetic: currency rounding, exact allocation, and the payable of an order.

Everything is ``Decimal``; nothing here ever uses float. ``price_order`` splits an order's
goods, discounts, freight and tax down to pieces (one line's units in one fulfilment) and adds
them up again, so the payable identity holds exactly at every level and each level sums exactly
to the order. The payable is what the customer pays, tax included:

- prices exclusive of tax: ``payable = goods - discount + freight + tax``;
- prices inclusive of tax (goods, discount and freight already hold it): the tax is contained,
  not added, ``payable = goods - discount + freight``.
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


def payable_of(goods: Decimal, discount: Decimal, freight: Decimal, tax: Decimal = ZERO,
               tax_included: bool = False) -> Decimal:
    """What the customer pays: ``goods - discount + freight``, plus ``tax`` unless the prices
    already include it (then the tax is inside the other figures)."""
    return goods - discount + freight + (ZERO if tax_included else tax)


@dataclass(frozen=True)
class Amounts:
    """Goods, discount, freight, tax and payable: ``payable == payable_of(goods, discount,
    freight, tax, tax_included)`` for the order's ``tax_included`` (see the module docstring)."""

    goods: Decimal = ZERO
    discount: Decimal = ZERO
    freight: Decimal = ZERO
    payable: Decimal = ZERO
    tax: Decimal = ZERO

    @classmethod
    def of(cls, goods: Decimal, discount: Decimal, freight: Decimal, tax: Decimal = ZERO,
           tax_included: bool = False) -> Amounts:
        return cls(goods, discount, freight, payable_of(goods, discount, freight, tax, tax_included), tax)

    @classmethod
    def from_dict(cls, raw: dict) -> Amounts:
        """The inverse of :meth:`to_dict` (a missing ``tax``, as stored before tax, is zero)."""
        return cls(*(Decimal(str(raw.get(k) or "0")) for k in ("goods", "discount", "freight", "payable", "tax")))

    @property
    def tax_included(self) -> bool:
        """Whether ``tax`` is inside the other figures, as far as the figures tell: with no tax
        both identities agree and it does not matter (False)."""
        return self.tax != 0 and self.payable == self.goods - self.discount + self.freight

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.goods + other.goods, self.discount + other.discount,
                       self.freight + other.freight, self.payable + other.payable, self.tax + other.tax)

    def to_dict(self) -> dict[str, str]:
        return {"goods": str(self.goods), "discount": str(self.discount),
                "freight": str(self.freight), "tax": str(self.tax), "payable": str(self.payable)}


@dataclass(frozen=True)
class OrderPricing:
    """Amounts per line (line_no), fulfilment (fulfilment_id; ``"backordered"`` for units not
    yet in one), merchant sub-order (merchant_id) and for the whole order; ``tax_included``:
    the order's prices include its tax."""

    currency: str
    order: Amounts
    lines: dict[int, Amounts] = field(default_factory=dict)
    fulfilments: dict[str, Amounts] = field(default_factory=dict)
    merchants: dict[str, Amounts] = field(default_factory=dict)
    tax_included: bool = False

    def to_dict(self) -> dict:
        return {"currency": self.currency, "tax_included": self.tax_included, "order": self.order.to_dict(),
                "lines": {str(k): v.to_dict() for k, v in self.lines.items()},
                "fulfilments": {k: v.to_dict() for k, v in self.fulfilments.items()},
                "merchants": {k: v.to_dict() for k, v in self.merchants.items()}}


def price_order(order: Order, decision: RoutingDecision) -> OrderPricing:
    """Price ``order`` as routed by ``decision``.

    Line goods are ``unit_price * quantity`` rounded to the currency; line discount is the
    line's own discount plus its share of ``order.order_discount`` (largest remainder, by goods
    after line discount). Freight is ``order.shipping_fee`` when set, allocated over the
    fulfilments and the backordered pseudo-fulfilment by goods value; otherwise each
    fulfilment's ``freight`` from the decision (backorders carry none yet). A line's goods,
    discount and tax go to its fulfilments by quantity, a fulfilment's freight to its pieces by
    goods. Tax on freight (``order.shipping_tax``) follows the freight's path: over the
    fulfilments and the backordered rest by goods, then to their pieces by goods. Whether the
    tax is added to the payable or contained in it is ``order.prices_include_tax``.
    Units of a line in neither (a held decision) are priced under ``"backordered"``.
    """
    cur, q = order.currency, currency_quantum(order.currency)
    included = order.prices_include_tax
    lines = sorted(order.lines, key=lambda ln: ln.line_no)
    goods = {ln.line_no: quantize(ln.goods, cur) for ln in lines}
    line_tax = {ln.line_no: quantize(ln.tax, cur) for ln in lines}
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
    piece_tax: dict[tuple[int, str], Decimal] = {}
    for n, ps in pieces.items():
        qtys = [Decimal(qty) for _, qty in ps]
        for (key, _), g, d, t in zip(ps, allocate(goods[n], qtys, q), allocate(discount[n], qtys, q),
                                     allocate(line_tax[n], qtys, q), strict=True):
            piece_goods[(n, key)] = g
            piece_disc[(n, key)] = d
            piece_tax[(n, key)] = t
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
    freight_tax_by_key = dict(zip(keys, allocate(quantize(order.shipping_tax, cur), [key_goods[k] for k in keys], q),
                                  strict=True))
    piece_freight: dict[tuple[int, str], Decimal] = {}
    for k in keys:
        members = [(n, k) for n in pieces if (n, k) in piece_goods]
        weights = [piece_goods[m] for m in members]
        for pk, fr, ft in zip(members, allocate(freight_by_key.get(k, ZERO), weights, q),
                              allocate(freight_tax_by_key[k], weights, q), strict=True):
            piece_freight[pk] = fr
            piece_tax[pk] += ft
    by_line: dict[int, Amounts] = {n: Amounts() for n in pieces}
    by_key: dict[str, Amounts] = {k: Amounts() for k in keys}
    by_merchant: dict[str, Amounts] = {}
    total = Amounts()
    for (n, k), g in piece_goods.items():
        a = Amounts.of(g, piece_disc[(n, k)], piece_freight.get((n, k), ZERO), piece_tax[(n, k)], included)
        by_line[n] += a
        by_key[k] += a
        by_merchant[merchant_of[n]] = by_merchant.get(merchant_of[n], Amounts()) + a
        total += a
    return OrderPricing(currency=cur, order=total, lines=by_line, fulfilments=by_key, merchants=by_merchant,
                        tax_included=included)


def split_amounts(amounts: Amounts, weights: Sequence[Decimal], currency: str,
                  tax_included: bool | None = None) -> list[Amounts]:
    """Split ``amounts`` over parts in proportion to ``weights``, each component exactly (largest
    remainder), so the parts add up to ``amounts`` and each keeps the payable identity
    (``tax_included``: the order's; None reads it from ``amounts``)."""
    q = currency_quantum(currency)
    included = amounts.tax_included if tax_included is None else tax_included
    goods = allocate(amounts.goods, weights, q)
    discount = allocate(amounts.discount, weights, q)
    freight = allocate(amounts.freight, weights, q)
    tax = allocate(amounts.tax, weights, q)
    return [Amounts.of(g, d, f, t, included) for g, d, f, t in zip(goods, discount, freight, tax, strict=True)]


def cod_shares(pricing: OrderPricing) -> dict[str, Decimal]:
    """What the courier collects with each fulfilment of a cash-on-delivery order: the order's
    payable (freight and tax included) allocated to the cent over its fulfilments and the
    backordered rest in proportion to their payables, so the shares (with the rest's, collected
    when it ships) add up to the payable exactly. Keyed by fulfilment id, the rest left out."""
    keys = list(pricing.fulfilments)
    parts = allocate(pricing.order.payable, [max(ZERO, pricing.fulfilments[k].payable) for k in keys],
                     currency_quantum(pricing.currency)) if keys else []
    return {k: share for k, share in zip(keys, parts, strict=True) if k != BACKORDERED}
