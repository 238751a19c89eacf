"""Amazon SP-API Order + OrderItems -> canonical orders."""

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.channels import CHANNEL_FORMATS, amazon
from adapters.errors import PayloadError
from adapters.outbound import sp_api
from adapters.schemas import CanonicalOrderSchema

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent.parent / "fixtures" / "channels"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def mapped(name: str):
    data = fixture(name)
    order = amazon.map_order(data["order"], data["items"], "m-az")
    return order, CanonicalOrderSchema().load(order.canonical)


def test_mfn_order_divides_item_price_by_quantity_for_the_unit_price():
    order, loaded = mapped("amazon_mfn_unshipped")
    c = order.canonical
    assert (
        c["channel_order_id"] == "113-4598234-7719425"
        and c["currency"] == "USD"
        and c["merchant_id"] == "m-az"
    )
    # 10.00 for 3 cables: 3.34 each, 0.02 rounding + 1.00 promotion as discount; 63.98 / 2 is exact
    assert [(line["sku"], line["quantity"], line["unit_price"], line["discount"]) for line in c["lines"]] == [
        ("CABLE-USBC-2M", 3, "3.34", "1.02"),
        ("CHARGER-65W", 2, "31.99", "0.00"),
    ]
    assert c["shipping_fee"] == "5.99" and c["shipping_method"] == "express"
    assert c["payment"] == {"method": "online", "status": "paid", "po_number": ""}
    a = c["shipping_address"]
    assert (a["name"], a["country"], a["region"], a["city"], a["postcode"]) == (
        "Chris O'Neill",
        "US",
        "WA",
        "Seattle",
        "98101-1234",
    )
    assert a["lines"] == ["500 Pine St", "Suite 1200"]
    assert loaded["placed_at"] == datetime(2024, 3, 5, 15, 10, 22, tzinfo=timezone.utc)
    assert order.updated_at == datetime(2024, 3, 5, 15, 42, 10, tzinfo=timezone.utc)
    assert order.ship_by == datetime(2024, 3, 7, 6, 59, 59, tzinfo=timezone.utc)
    assert (
        order.route and not order.cancelled and order.native_status == "Unshipped" and "prime" in order.flags
    )
    net = sum(line["unit_price"] * line["quantity"] - line["discount"] for line in loaded["lines"])
    assert net == Decimal("10.00") - Decimal("1.00") + Decimal("63.98")  # nothing lost to rounding


def test_afn_business_order_is_recorded_but_not_routed():
    order, _ = mapped("amazon_afn_business_shipped")
    c = order.canonical
    assert order.route is False and c["b2b"] is True
    assert c["payment"]["po_number"] == "BEST-2024-00912" and c["payment"]["status"] == "paid"
    assert c["lines"][0]["unit_price"] == "11.99" and c["lines"][0]["quantity"] == 30
    a = c["shipping_address"]
    assert (a["city"], a["region"], a["lines"]) == ("Düsseldorf", "Nordrhein-Westfalen", ["Große Straße 7"])
    assert "status:Shipped" in order.flags


def test_cod_order_with_restricted_address_still_maps_for_routing():
    order, _ = mapped("amazon_cod_restricted_jp")
    c = order.canonical
    assert c["payment"]["method"] == "cod" and c["payment"]["status"] == "unpaid"
    assert c["currency"] == "JPY" and c["lines"][0]["unit_price"] == "1990" and c["shipping_fee"] == "350.00"
    assert c["shipping_address"] == {
        "name": "",
        "phone": "",
        "country": "JP",
        "region": "東京都",
        "city": "渋谷区",
        "district": "",
        "postcode": "150-0002",
        "lines": [],
    }
    assert "address_restricted" in order.flags


def test_unit_price_keeps_more_places_when_the_division_is_exact():
    data = fixture("amazon_mfn_unshipped")
    data["items"][1]["ItemPrice"]["Amount"] = "10.05"
    line = amazon.map_order(data["order"], data["items"], "m-az").canonical["lines"][1]
    assert (line["unit_price"], line["discount"]) == ("5.025", "0.00")


def test_cancelled_order_and_zero_quantity_items():
    data = fixture("amazon_mfn_unshipped")
    data["order"]["OrderStatus"] = "Canceled"
    data["items"][1]["QuantityOrdered"] = 0
    order = amazon.map_order(data["order"], data["items"], "m-az")
    assert order.cancelled and [line["sku"] for line in order.canonical["lines"]] == ["CABLE-USBC-2M"]
    assert "zero_quantity:CHARGER-65W" in order.flags


def test_missing_address_falls_back_to_the_marketplace_country():
    data = fixture("amazon_afn_business_shipped")
    del data["order"]["ShippingAddress"]
    order = amazon.map_order(data["order"], data["items"], "m-az")
    assert order.canonical["shipping_address"] == {"country": "DE"} and "address_missing" in order.flags


def test_pending_order_without_prices_is_refused_with_the_item_path():
    data = fixture("amazon_mfn_unshipped")
    data["order"]["OrderStatus"] = "Pending"
    del data["items"][0]["ItemPrice"]
    with pytest.raises(PayloadError) as err:
        amazon.map_order(data["order"], data["items"], "m-az")
    assert err.value.field_path == "items.0.ItemPrice"


@pytest.mark.parametrize(
    "key, value, field_path",
    [
        ("QuantityOrdered", "many", "items.1.QuantityOrdered"),
        ("SellerSKU", "", "items.1.SellerSKU"),
        ("PromotionDiscount", {"Amount": "99.00"}, "items.1.PromotionDiscount"),
    ],
)
def test_malformed_items_name_the_sp_api_path(key, value, field_path):
    data = fixture("amazon_mfn_unshipped")
    data["items"][1][key] = value
    with pytest.raises(PayloadError) as err:
        amazon.map_order(data["order"], data["items"], "m-az")
    assert err.value.field_path == field_path


def test_registry_form_takes_order_and_items_and_dedupes_per_update():
    data = fixture("amazon_mfn_unshipped")
    fmt = CHANNEL_FORMATS["amazon"]
    assert fmt.to_canonical(data, "m-az").canonical["channel_order_id"] == "113-4598234-7719425"
    assert fmt.dedupe_key({}, data) == "113-4598234-7719425@2024-03-05T15:42:10Z"


def test_shipment_confirmation_matches_items_by_seller_sku():
    from datetime import datetime, timezone

    from adapters.channels import amazon

    raw = json.loads((FIXTURES / "amazon_mfn_unshipped.json").read_text(encoding="utf-8"))
    body = amazon.shipment_confirmation(raw, [("CHARGER-65W", 2), ("CABLE-USBC-2M", 3)], package_reference_id=2,
                                        tracking_number="1Z999", carrier_code=None, carrier_name="fastship",
                                        ship_date=datetime(2024, 3, 6, 10, 0, tzinfo=timezone.utc),
                                        shipping_method="express")
    assert body == {"marketplaceId": "ATVPDKIKX0DER", "packageDetail": {
        "packageReferenceId": "2", "carrierCode": "Other", "carrierName": "fastship", "trackingNumber": "1Z999",
        "shipDate": "2024-03-06T10:00:00Z", "shippingMethod": "express",
        "orderItems": [{"orderItemId": "20214830117732", "quantity": 2}, {"orderItemId": "20214830117731", "quantity": 3}]}}
    with pytest.raises(PayloadError) as err:
        amazon.shipment_confirmation(raw, [("CHARGER-65W", 5)], package_reference_id=1, tracking_number="1Z",
                                     carrier_code="UPS", carrier_name="", ship_date=datetime.now(timezone.utc))
    assert err.value.field_path == "lines.0"


# --- SP-API pacing (adapters/outbound/sp_api.py) ------------------------------------------------


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_documented_rates_are_the_starting_buckets():
    assert sp_api.RATES == {"getOrders": (0.0167, 20), "getOrderItems": (0.5, 30), "confirmShipment": (2.0, 10)}
    sp_api.forget()
    pace = sp_api.bucket("amz-unit", "getOrders")
    assert (pace.rate, pace.burst) == (0.0167, 20) and sp_api.bucket("amz-unit", "getOrders") is pace
    sp_api.forget()


def test_a_bucket_lets_a_burst_through_then_paces_at_its_rate():
    clock = _Clock()
    pace = sp_api.Bucket(0.5, 3, clock)
    assert [pace.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pace.reserve() == pytest.approx(2.0 * sp_api.SLACK)  # the fourth waits for a token at 0.5/s
    clock.now += 2.0
    assert pace.reserve() == pytest.approx(2.0 * sp_api.SLACK)  # the one just earned went to the fourth
    pace.give_back()
    clock.now += 60
    assert [pace.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]  # refilled up to the burst, no more


def test_a_429_empties_the_bucket_and_the_granted_rate_paces_what_follows():
    clock = _Clock()
    pace = sp_api.Bucket(0.0167, 20, clock)
    pace.reserve()
    pace.granted(5.0)  # x-amzn-RateLimit-Limit: what Amazon grants this seller
    pace.refuse()  # Amazon's bucket is empty: the next turn is one token away at 5/s (and a little more)
    turn = pace.reserve()
    assert turn == pytest.approx(0.2 * sp_api.SLACK) and pace.burst == 1
    clock.now += turn  # that request went out; the next turn counts from then
    assert pace.reserve() == pytest.approx(0.2 * sp_api.SLACK)
    pace.granted(float("nan"))
    assert pace.rate == 5.0
