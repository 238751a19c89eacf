"""The parcel a carrier books: the catalogue's weights, the very ones freight was priced with."""
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings

from router import geo
from router.freight import shipment_fee
from router.model import Sku
from router.parcels import Parcel, parcel_for
from router.routing import plan_fulfilments
from router.rules import RoutingRules
from tests.unit.routing_factories import routing_inputs

pytestmark = pytest.mark.unit

SKUS = {"TENT": Sku("TENT", "m1", Decimal("899"), weight_grams=2350, dimensions_mm=(600, 200, 180)),
        "MUG": Sku("MUG", "m1", Decimal("9"), weight_grams=310)}


def test_the_weight_is_the_catalogues_per_unit_and_500_g_for_an_unknown_sku():
    assert parcel_for([("TENT", 2), ("MUG", 3)], SKUS) == Parcel(2 * 2350 + 3 * 310)
    assert parcel_for([("MUG", 1), ("NOT-IN-CATALOGUE", 2)], SKUS).weight_grams == 310 + 2 * 500


def test_dimensions_go_with_a_single_unit_of_a_sku_that_has_them():
    assert parcel_for([("TENT", 1)], SKUS).to_dict() == {"weight_grams": 2350, "length_mm": 600, "width_mm": 200,
                                                         "height_mm": 180}
    assert parcel_for([("TENT", 2)], SKUS).dimensions_mm is None  # how two are packed is the warehouse's
    assert parcel_for([("TENT", 1), ("MUG", 0)], SKUS).dimensions_mm == (600, 200, 180)
    assert parcel_for([("MUG", 1)], SKUS).to_dict() == {"weight_grams": 310}


# One cent per gram past the first: a fulfilment's freight tells the weight it was priced at.
PER_GRAM = RoutingRules.from_dict({"version": "t-1", "strategies": [{"name": "all"}], "shipping_templates": [
    {"id": "by-gram", "rates": [{"first_units": 1, "first_fee": "0", "additional_units": 1,
                                 "additional_fee": "0.01"}]}]})


@settings(max_examples=200)
@given(routing_inputs())
def test_each_fulfilment_is_booked_at_the_weight_its_freight_was_priced_at(inputs):
    order, stock, network, exclude = inputs
    order = replace(order, shipping_fee=None)  # freight priced from the template
    decision = plan_fulfilments(order, stock, network, PER_GRAM, exclude_warehouses=exclude)
    template = PER_GRAM.freight.templates[0]
    lines = {ln.line_no: ln for ln in order.lines}
    for f in decision.fulfilments:
        booked = parcel_for([(fl.sku, fl.quantity) for fl in f.lines], network.skus)
        value = sum((lines[fl.line_no].unit_price * fl.quantity for fl in f.lines), Decimal("0"))
        pieces = sum(fl.quantity for fl in f.lines)
        assert f.freight == shipment_fee(template, geo.destination_key(order.address), booked.weight_grams, pieces,
                                         value)
