"""Shipping templates by hand: first weight or piece, additional units, free above, remote areas."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from router.errors import InvalidRoutingRules
from router.freight import freight_table_from_dict, shipment_fee, template_from_dict

pytestmark = pytest.mark.unit

WEIGHT = template_from_dict({
    "id": "by-weight", "basis": "weight",
    "rates": [
        {"regions": ["*"], "first_units": 1000, "first_fee": "20.00", "additional_units": 1000, "additional_fee": "8.00"},
        {"regions": ["CN"], "first_units": 1000, "first_fee": "8.00", "additional_units": 500,
         "additional_fee": "1.50", "free_above": "99.00"},
        {"regions": ["CN-ZJ", "CN-SH"], "first_units": 1000, "first_fee": "5.00", "additional_units": 1000,
         "additional_fee": "1.00"},
    ],
    "remote_regions": ["CN-XZ", "CN-XJ"], "remote_surcharge": "15.00"}, "t")
PIECES = template_from_dict({"id": "by-piece", "basis": "piece", "rates": [
    {"first_units": 2, "first_fee": "6.00", "additional_units": 1, "additional_fee": "2.50"}]}, "t")


@pytest.mark.parametrize("destination, grams, goods, expected", [
    ("CN-ZJ", 800, "10", "5.00"),          # region rate, within first weight
    ("CN-ZJ", 2500, "10", "7.00"),         # 5 + 2 started kilos x 1
    ("CN-GD", 1000, "10", "8.00"),         # country rate
    ("CN-GD", 1001, "10", "9.50"),         # 1 g over: one started 500 g step
    ("CN-GD", 2200, "10", "12.50"),        # 1,200 g over: three 500 g steps
    ("CN-GD", 2200, "99.00", "0"),         # free at or above 99
    ("CN-XZ", 500, "10", "23.00"),         # country rate + remote surcharge
    ("CN-XZ", 500, "150", "15.00"),        # free base fee, the surcharge stays
    ("US-CA", 3000, "10", "36.00"),        # catch-all: 20 + 2 x 8
])
def test_weight_template(destination, grams, goods, expected):
    assert shipment_fee(WEIGHT, destination, grams, 1, D(goods)) == D(expected)


@pytest.mark.parametrize("pieces, expected", [(1, "6.00"), (2, "6.00"), (3, "8.50"), (5, "13.50")])
def test_piece_template_charges_first_pieces_then_each_additional(pieces, expected):
    assert shipment_fee(PIECES, "CN-ZJ", 99999, pieces, D("1")) == D(expected)


def test_no_template_or_no_rate_is_free():
    assert shipment_fee(None, "CN-ZJ", 1000, 1, D("1")) == D("0")
    only_us = template_from_dict({"id": "us", "rates": [{"regions": ["US"], "first_fee": "5"}]}, "t")
    assert shipment_fee(only_us, "CN-ZJ", 1000, 1, D("1")) == D("0")


def test_warehouse_template_beats_merchant_template_beats_default():
    table = freight_table_from_dict([
        {"id": "default", "rates": [{"first_fee": "10"}]},
        {"id": "m1", "merchant": "m1", "rates": [{"first_fee": "7"}]},
        {"id": "w9", "warehouse": "W9", "rates": [{"first_fee": "3"}]},
    ], {})
    assert table.template_for("W9", "m1").id == "w9"
    assert table.template_for("W1", "m1").id == "m1"
    assert table.template_for("W1", "m2").id == "default"


@pytest.mark.parametrize("raw, field", [
    ([{"rates": [{"first_fee": "1"}]}], "shipping_templates[0].id"),
    ([{"id": "x", "rates": []}], "shipping_templates[0].rates"),
    ([{"id": "x", "basis": "volume", "rates": [{}]}], "shipping_templates[0].basis"),
    ([{"id": "x", "rates": [{"first_fee": "-1"}]}], "shipping_templates[0].rates[0].first_fee"),
    ([{"id": "x", "rates": [{"additional_units": 0}]}], "shipping_templates[0].rates[0].additional_units"),
    ([{"id": "x", "rates": [{"first_fee": "abc"}]}], "shipping_templates[0].rates[0].first_fee"),
    ([{"id": "x", "rates": [{"fee": "1"}]}], "shipping_templates[0].rates[0].fee"),
    ([{"id": "a", "rates": [{}]}, {"id": "b", "rates": [{}]}], "shipping_templates[1]"),
])
def test_bad_templates_name_the_field(raw, field):
    with pytest.raises(InvalidRoutingRules) as err:
        freight_table_from_dict(raw, {})
    assert err.value.field == field
