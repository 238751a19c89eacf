"""Shopify order webhooks -> canonical orders, signatures and the fulfilment builder."""

import base64
import copy
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.channels import CHANNEL_FORMATS, shopify
from adapters.errors import BadSignature, PayloadError
from adapters.schemas import CanonicalOrderSchema

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent.parent / "fixtures" / "channels"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def mapped(name: str, merchant_id: str = "m-1"):
    order = shopify.to_canonical(fixture(name), merchant_id)
    loaded = CanonicalOrderSchema().load(order.canonical)
    return order, loaded


def test_paid_multiline_order_maps_lines_with_their_allocated_discounts():
    order, loaded = mapped("shopify_order_paid_multiline")
    c = order.canonical
    assert c["channel_order_id"] == "5512345678901" and c["merchant_id"] == "m-1" and c["currency"] == "USD"
    assert [(line["sku"], line["quantity"], line["unit_price"], line["discount"]) for line in c["lines"]] == [
        ("TSHIRT-BLK-M", 2, "25.00", "5.00"),
        ("MUG-WHT", 1, "12.50", "1.25"),
    ]
    assert c["discounts"] == []  # SPRING10 is already allocated to the lines: not counted twice
    assert c["shipping_fee"] == "5.00" and c["shipping_method"] == "standard"
    assert c["payment"]["method"] == "online" and c["payment"]["status"] == "paid"
    assert c["b2b"] is False and c["notes"] == "Please leave at the door"
    a = c["shipping_address"]
    assert (a["country"], a["region"], a["city"], a["postcode"]) == ("US", "California", "Los Angeles", "90026")
    assert a["region_code"] == "US-CA"
    assert a["lines"] == ["123 Amoeba Way", "Apt 4B"] and a["name"] == "Jane Doe"
    assert a["phone"] == "+1 213 555 0142" and (a["lat"], a["lon"]) == (34.0778, -118.2606)
    assert c["customer"] == {"id": "7001", "name": "Jane Doe", "email": "jane.doe@example.com", "phone": ""}
    assert loaded["placed_at"] == datetime(2024, 3, 5, 10, 15, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert order.updated_at == datetime(2024, 3, 5, 15, 15, 32, tzinfo=timezone.utc)
    assert order.native_status == "paid" and not order.cancelled and order.route and order.flags == []


def test_payable_matches_shopify_subtotal_plus_shipping():
    _, loaded = mapped("shopify_order_paid_multiline")
    goods = sum(line["unit_price"] * line["quantity"] - line["discount"] for line in loaded["lines"])
    assert goods == Decimal("56.25") and goods + loaded["shipping_fee"] == Decimal("61.25")


def test_money_comes_from_shop_money_not_presentment_money():
    payload = fixture("shopify_order_paid_multiline")
    payload["line_items"][0]["price"] = "999.00"  # the plain field loses to price_set.shop_money
    order = shopify.to_canonical(payload, "m-1")
    assert order.canonical["lines"][0]["unit_price"] == "25.00"


def test_cash_on_delivery_order_with_express_shipping_and_non_ascii_address():
    order, _ = mapped("shopify_order_cod_express")
    c = order.canonical
    assert c["payment"] == {"method": "cod", "status": "unpaid", "terms_days": None, "po_number": ""}
    assert c["shipping_method"] == "express" and c["shipping_fee"] == "12.00" and c["currency"] == "EUR"
    assert c["lines"] == [
        {
            "sku": "SOCK-WOOL-3P",
            "quantity": 3,
            "unit_price": "29.90",
            "discount": "0",
            "name": "Wollsocken 3er-Pack",
        }
    ]
    a = c["shipping_address"]
    assert (a["name"], a["city"], a["region"], a["country"]) == ("Jürgen Groß", "München", "Bayern", "DE")
    assert a["region_code"] == "DE-BY"
    assert a["lines"] == ["Königstraße 12", "Hinterhaus, 3. OG"]


def test_free_shipping_discount_nets_the_shipping_fee_for_a_chinese_address():
    order, _ = mapped("shopify_order_cn_free_shipping")
    c = order.canonical
    assert c["shipping_fee"] == "0.00" and c["discounts"] == [] and c["currency"] == "CNY"
    assert c["lines"][0]["unit_price"] == "198.00" and c["lines"][0]["quantity"] == 2
    a = c["shipping_address"]
    assert (a["country"], a["region"], a["city"], a["postcode"]) == ("CN", "Zhejiang", "杭州市", "310012")
    assert a["region_code"] == "CN-ZJ"  # from province_code; the province as written stays
    assert a["name"] == "王小明" and a["lines"] == ["西湖区文三路138号", "东方通信大厦5楼"]
    assert c["customer"]["name"] == "王小明"  # family name first for Chinese names


def test_b2b_order_with_po_number_is_on_payment_terms():
    order, _ = mapped("shopify_order_b2b_po")
    c = order.canonical
    assert c["b2b"] is True
    assert c["payment"] == {
        "method": "terms",
        "status": "unpaid",
        "terms_days": 30,
        "po_number": "PO-2024-4411",
    }
    assert [(line["sku"], line["quantity"], line["unit_price"], line["discount"]) for line in c["lines"]] == [
        ("PALLET-BOX-40", 10, "60.00", "60.00"),
        ("TAPE-48MM-36", 20, "30.00", "60.00"),
    ]
    assert c["shipping_method"] == "express" and c["shipping_fee"] == "150.00"
    assert c["shipping_address"]["lines"][0] == "Northwind Traders Ltd"


def test_cancelled_order_is_marked_cancelled_with_its_reason():
    order, _ = mapped("shopify_order_cancelled")
    assert order.cancelled and order.native_status == "cancelled"
    assert "cancel_reason:customer" in order.flags and "payment:refunded" in order.flags


def test_discount_total_not_explained_by_allocations_becomes_an_order_discount():
    payload = fixture("shopify_order_paid_multiline")
    payload["total_discounts"] = "8.25"
    payload["total_discounts_set"]["shop_money"]["amount"] = "8.25"
    order = shopify.to_canonical(payload, "m-1")
    assert order.canonical["discounts"] == [{"code": "SPRING10", "amount": "2.00"}]
    assert "unallocated_discount:2.00" in order.flags


def test_unknown_financial_status_is_flagged_not_refused():
    payload = fixture("shopify_order_paid_multiline")
    payload["financial_status"] = "on_layaway"
    order = shopify.to_canonical(payload, "m-1")
    assert "unknown_status:on_layaway" in order.flags and order.canonical["payment"]["status"] == "unpaid"


@pytest.mark.parametrize(
    "path, value, field_path",
    [
        (("line_items", 1, "quantity"), "two", "line_items.1.quantity"),
        (("line_items", 0, "sku"), None, "line_items.0.sku"),
        (("shipping_address", "country_code"), None, "shipping_address.country_code"),
        (
            ("line_items", 0, "price_set", "shop_money", "amount"),
            "-3",
            "line_items.0.price_set.shop_money.amount",
        ),
        (("created_at",), "yesterday", "created_at"),
    ],
)
def test_malformed_fields_raise_payload_error_naming_the_shopify_path(path, value, field_path):
    payload = fixture("shopify_order_paid_multiline")
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(PayloadError) as err:
        shopify.to_canonical(payload, "m-1")
    assert err.value.field_path == field_path


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_signature_accepts_the_right_hmac_and_refuses_tampering():
    body = (FIXTURES / "shopify_order_paid_multiline.json").read_bytes()
    headers = {"X-Shopify-Hmac-Sha256": sign(body, "s3cret"), "X-Shopify-Webhook-Id": "b54557e4-bdd9"}
    shopify.verify(headers, body, "s3cret")
    shopify.verify(
        {k.lower(): v for k, v in headers.items()}, body, "s3cret"
    )  # header names are case-insensitive
    with pytest.raises(BadSignature):
        shopify.verify(headers, body.replace(b"25.00", b"2.50"), "s3cret")
    with pytest.raises(BadSignature):
        shopify.verify(headers, body, "other")
    with pytest.raises(BadSignature):
        shopify.verify({}, body, "s3cret")
    with pytest.raises(BadSignature):
        shopify.verify(headers, body, "")


def test_dedupe_key_is_the_webhook_id():
    assert CHANNEL_FORMATS["shopify"].dedupe_key({"x-shopify-webhook-id": "b54557e4"}, {}) == "b54557e4"
    assert shopify.dedupe_key({}, {}) is None


def test_fulfillment_request_carries_tracking_info():
    body = shopify.fulfillment_request(
        1046000818,
        "1Z999AA10123456784",
        "UPS",
        lines=[(1058000001, 2)],
        tracking_url="https://ups.example/1Z",
    )
    assert body == {
        "fulfillment": {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": 1046000818,
                    "fulfillment_order_line_items": [{"id": 1058000001, "quantity": 2}],
                }
            ],
            "tracking_info": {
                "number": "1Z999AA10123456784",
                "company": "UPS",
                "url": "https://ups.example/1Z",
            },
            "notify_customer": True,
        }
    }
    everything = shopify.fulfillment_request(7, "SF1", "SF Express")["fulfillment"]
    assert everything["line_items_by_fulfillment_order"] == [{"fulfillment_order_id": 7}]


def test_order_without_discount_allocations_uses_the_legacy_total_discount():
    payload = fixture("shopify_order_paid_multiline")
    item = payload["line_items"][0]
    del item["discount_allocations"]
    item["total_discount"], item["total_discount_set"] = "5.00", None
    assert shopify.to_canonical(copy.deepcopy(payload), "m-1").canonical["lines"][0]["discount"] == "5.00"


def test_channel_without_a_merchant_is_refused_with_a_clear_error():
    with pytest.raises(PayloadError) as err:
        shopify.to_canonical(fixture("shopify_order_paid_multiline"), None)
    assert err.value.field_path == "canonical.lines.0.merchant_id"


def test_refund_request_takes_the_calculated_parent_transactions_up_to_the_amount():
    from decimal import Decimal

    from adapters.channels import shopify

    calculated = {"refund": {"transactions": [
        {"parent_id": 11, "amount": "0.00", "kind": "suggested_refund", "gateway": "gift_card", "maximum_refundable": "4.00"},
        {"parent_id": 12, "amount": "0.00", "kind": "suggested_refund", "gateway": "shopify_payments",
         "maximum_refundable": "50.00"}]}}
    body = shopify.refund_request(calculated, Decimal("10.00"), "USD", [("466157049", 1)], "damaged")["refund"]
    assert body["transactions"] == [
        {"parent_id": 11, "amount": "4.00", "kind": "refund", "gateway": "gift_card"},
        {"parent_id": 12, "amount": "6.00", "kind": "refund", "gateway": "shopify_payments"}]
    assert body["refund_line_items"] == [{"line_item_id": "466157049", "quantity": 1, "restock_type": "no_restock"}]
    with pytest.raises(PayloadError):
        shopify.refund_request(calculated, Decimal("60.00"), "USD", [], "too much")


@pytest.mark.parametrize("given, kept", [("zh-CN", "zh-CN"), ("en", "en"), ("not a locale!", None), ("", None)])
def test_the_customers_locale_is_kept_for_the_routers_e_mails_when_it_is_a_language_tag(given, kept):
    payload = fixture("shopify_order_paid_multiline")
    payload["customer_locale"] = given
    customer = CanonicalOrderSchema().load(shopify.to_canonical(payload, "m-1").canonical)["customer"]
    assert customer["locale"] == (kept or "")  # a stray value is left out, the order still taken
