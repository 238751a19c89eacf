"""Money: currency rounding, largest-remainder allocation, and order pricing by hand."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.errors import AllocationError
from router.model import FulfilmentLine, PlannedFulfilment, RoutingDecision
from router.money import BACKORDERED, Amounts, allocate, price_order, quantize
from routing_factories import line, order

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("amount, currency, expected", [
    (D("10.005"), "CNY", D("10.01")),
    (D("10.004"), "USD", D("10.00")),
    (D("1234.5"), "JPY", D("1235")),
    (D("99.4"), "KRW", D("99")),
    (D("1.2345"), "KWD", D("1.235")),
    (D("1.2344"), "BHD", D("1.234")),
])
def test_quantize_rounds_half_up_to_the_currency_minor_unit(amount, currency, expected):
    assert quantize(amount, currency) == expected
    assert quantize(amount, currency).as_tuple().exponent == expected.as_tuple().exponent


@pytest.mark.parametrize("total, weights, expected", [
    ("10.00", ["1", "1", "1"], ["3.34", "3.33", "3.33"]),
    ("0.05", ["1", "2"], ["0.02", "0.03"]),
    ("100.00", ["0", "0"], ["50.00", "50.00"]),
    ("1.00", ["3", "0", "1"], ["0.75", "0.00", "0.25"]),
    ("-0.10", ["1", "2"], ["-0.03", "-0.07"]),
    ("0.00", [], []),
    ("0.01", ["1", "1"], ["0.01", "0.00"]),
])
def test_allocate_by_largest_remainder(total, weights, expected):
    assert allocate(D(total), [D(w) for w in weights]) == [D(e) for e in expected]


def test_allocate_with_a_yen_quantum():
    assert allocate(D("100"), [D("1")] * 3, D("1")) == [D("34"), D("33"), D("33")]


@pytest.mark.parametrize("total, weights", [("1.00", []), ("1.00", ["-1", "2"]), ("1.005", ["1"])])
def test_allocate_refuses_what_it_cannot_split_exactly(total, weights):
    with pytest.raises(AllocationError):
        allocate(D(total), [D(w) for w in weights])


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**6, 10**6), st.lists(st.integers(0, 10**4), min_size=1, max_size=12))
def test_allocate_is_exact_and_proportional_within_a_cent(cents, weights):
    total = D(cents) / 100
    parts = allocate(total, [D(w) for w in weights])
    assert sum(parts) == total
    whole = sum(weights) or len(weights)
    for part, w in zip(parts, weights if sum(weights) else [1] * len(weights), strict=True):
        assert abs(part - total * w / whole) < D("0.01")


def test_amounts_serialise_as_strings():
    assert Amounts.of(D("10.00"), D("1.50"), D("6.00")).to_dict() == {
        "goods": "10.00", "discount": "1.50", "freight": "6.00", "tax": "0", "payable": "14.50"}


def _decision(*fulfilments, backordered=()):
    return RoutingDecision(fulfilments=tuple(fulfilments), backordered=tuple(backordered))


def test_order_discount_and_channel_freight_are_split_by_goods_to_the_cent():
    o = order(line(1, "A", 1, "10.00"), line(2, "B", 2, "10.00", merchant="m2"),
              order_discount=D("10.00"), shipping_fee=D("10.00"))
    d = _decision(PlannedFulfilment("O1-F1", "m1", "W1", None, (FulfilmentLine(1, "A", 1),)),
                  PlannedFulfilment("O1-F2", "m2", "W2", None, (FulfilmentLine(2, "B", 2),)))
    p = price_order(o, d)
    # discount 10.00 by goods 10:20 -> 3.33 / 6.67 (6.666.. has the larger remainder)
    assert p.lines[1] == Amounts.of(D("10.00"), D("3.33"), D("3.33"))
    assert p.lines[2] == Amounts.of(D("20.00"), D("6.67"), D("6.67"))
    assert p.fulfilments["O1-F1"] == p.lines[1] == p.merchants["m1"]
    assert p.order == Amounts.of(D("30.00"), D("10.00"), D("10.00"))
    assert p.order.payable == D("30.00")


def test_template_freight_comes_from_the_decision_and_backorders_carry_none():
    o = order(line(1, "A", 3, "5.00", discount="1.00"))
    d = _decision(PlannedFulfilment("O1-F1", "m1", "W1", "sf", (FulfilmentLine(1, "A", 2),), freight=D("8.00")),
                  backordered=(FulfilmentLine(1, "A", 1),))
    p = price_order(o, d)
    # line discount 1.00 by quantity 2:1 -> 0.67 / 0.33
    assert p.fulfilments["O1-F1"] == Amounts.of(D("10.00"), D("0.67"), D("8.00"))
    assert p.fulfilments[BACKORDERED] == Amounts.of(D("5.00"), D("0.33"), D("0"))
    assert p.lines[1] == Amounts.of(D("15.00"), D("1.00"), D("8.00"))
    assert p.to_dict()["order"] == {"goods": "15.00", "discount": "1.00", "freight": "8.00", "tax": "0.00",
                                      "payable": "22.00"}


def test_channel_freight_follows_goods_into_the_backorder():
    o = order(line(1, "A", 2, "10.00"), shipping_fee=D("9.00"))
    d = _decision(PlannedFulfilment("O1-F1", "m1", "W1", None, (FulfilmentLine(1, "A", 1),)),
                  backordered=(FulfilmentLine(1, "A", 1),))
    p = price_order(o, d)
    assert p.fulfilments["O1-F1"].freight == D("4.50")
    assert p.fulfilments[BACKORDERED].freight == D("4.50")


def test_yen_order_is_priced_in_whole_yen():
    o = order(line(1, "A", 1, "1000"), line(2, "B", 1, "2000"), currency="JPY", order_discount=D("100"))
    d = _decision(PlannedFulfilment("O1-F1", "m1", "W1", None, (FulfilmentLine(1, "A", 1), FulfilmentLine(2, "B", 1))))
    p = price_order(o, d)
    assert [p.lines[1].discount, p.lines[2].discount] == [D("33"), D("67")]
    assert p.order.payable == D("2900")


from hypothesis import given, settings, strategies as st  # noqa: E402

from router.money import split_amounts  # noqa: E402

_cents = st.integers(min_value=0, max_value=10**7).map(lambda c: D(c) / 100)


@settings(max_examples=200, deadline=None)
@given(_cents, _cents, _cents, st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=6))
def test_split_amounts_adds_up_exactly_and_keeps_payable_per_part(goods, discount, freight, weights):
    whole = Amounts.of(goods, discount, freight)
    parts = split_amounts(whole, [D(w) for w in weights], "USD")
    assert sum((p.goods for p in parts), D(0)) == whole.goods
    assert sum((p.discount for p in parts), D(0)) == whole.discount
    assert sum((p.freight for p in parts), D(0)) == whole.freight
    assert all(p.payable == p.goods - p.discount + p.freight for p in parts)
