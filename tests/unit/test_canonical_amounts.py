"""Amounts are refused when they are finer than the order's currency can pay, naming the field."""
from __future__ import annotations

from decimal import Decimal

import pytest
from marshmallow import ValidationError

from adapters.schemas import CanonicalOrderSchema, field_errors

pytestmark = pytest.mark.unit


def order(currency: str, unit_price: str, discount: str = "0", shipping_fee: str | None = None,
          order_discount: str | None = None) -> dict:
    body = {"channel_order_id": "c-1", "merchant_id": "m1", "currency": currency,
            "shipping_address": {"country": "JP"}, "placed_at": "2026-11-24T10:00:00+00:00",
            "lines": [{"sku": "S1", "quantity": 2, "unit_price": unit_price, "discount": discount}]}
    if shipping_fee is not None:
        body["shipping_fee"] = shipping_fee
    if order_discount is not None:
        body["discounts"] = [{"code": "X", "amount": order_discount}]
    return body


@pytest.mark.parametrize("currency,price", [("JPY", "1000"), ("JPY", "1000.00"), ("USD", "9.99"), ("KWD", "1.125")])
def test_amounts_in_whole_units_of_the_currency_are_accepted(currency, price):
    assert CanonicalOrderSchema().load(order(currency, price))["lines"][0]["unit_price"] == Decimal(price)


def test_amounts_finer_than_the_currency_are_refused_field_by_field():
    with pytest.raises(ValidationError) as refused:
        CanonicalOrderSchema().load(order("JPY", "1000.25", discount="0.5", shipping_fee="300.1", order_discount="0.5"))
    errors = field_errors(refused.value.messages)
    assert set(errors) == {"lines.0.unit_price", "lines.0.discount", "shipping_fee", "discounts.0.amount"}
    assert errors["shipping_fee"] == ["finer than the smallest unit of JPY (1)"]
    with pytest.raises(ValidationError) as refused:
        CanonicalOrderSchema().load(order("USD", "9.9975"))
    assert field_errors(refused.value.messages) == {
        "lines.0.unit_price": ["unit_price x quantity is finer than the smallest unit of USD (0.01)"]}
    # a unit price from a marketplace's line total over its quantity may be finer; the line total is not
    assert CanonicalOrderSchema().load(order("USD", "5.025"))["lines"][0]["unit_price"] == Decimal("5.025")
