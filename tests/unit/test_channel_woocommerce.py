"""WooCommerce order webhooks -> canonical orders, signatures and the order sync builders."""

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.channels import woocommerce
from adapters.errors import BadSignature, PayloadError
from adapters.schemas import CanonicalOrderSchema

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent.parent / "fixtures" / "channels"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def mapped(name: str):
    order = woocommerce.to_canonical(fixture(name), "m-woo")
    return order, CanonicalOrderSchema().load(order.canonical)


def test_processing_order_takes_line_discounts_from_subtotal_minus_total():
    order, loaded = mapped("woocommerce_order_processing_coupon")
    c = order.canonical
    assert c["channel_order_id"] == "4821" and c["merchant_id"] == "m-woo" and c["currency"] == "EUR"
    # 10.00 / 3 does not come out to the cent: 3.34 each, the 0.02 excess joins the discount
    assert [(line["sku"], line["quantity"], line["unit_price"], line["discount"]) for line in c["lines"]] == [
        ("SAVON-600", 2, "25.00", "5.00"),
        ("BROSSE-BOIS", 3, "3.34", "1.02"),
    ]
    assert c["discounts"] == []  # the coupon is already inside subtotal - total
    assert c["shipping_fee"] == "4.90"
    assert c["payment"] == {
        "method": "online",
        "status": "paid",
        "transaction_id": "pi_3OqZk2LkdIwHu7ix0",
        "po_number": "",
    }
    a = c["shipping_address"]
    assert (a["name"], a["country"], a["city"], a["postcode"]) == ("Hélène Dubois", "FR", "Lyon", "69002")
    assert a["lines"] == ["12 rue de l'Église", "Bâtiment C"]
    assert a["phone"] == "+33 4 72 00 00 00"  # from billing: the shipping phone is empty
    assert c["customer"]["email"] == "helene.dubois@example.fr" and c["customer"]["id"] == "26"
    assert loaded["placed_at"] == datetime(2024, 3, 5, 10, 15, 30, tzinfo=timezone.utc)
    assert order.updated_at == datetime(2024, 3, 5, 10, 16, 2, tzinfo=timezone.utc)
    goods = sum(line["unit_price"] * line["quantity"] - line["discount"] for line in loaded["lines"])
    assert goods + loaded["shipping_fee"] == Decimal(
        fixture("woocommerce_order_processing_coupon")["total"]
    )  # WooCommerce's order total, exactly


def test_cash_on_delivery_order_to_china_with_a_negative_fee_as_discount():
    order, loaded = mapped("woocommerce_order_cod_cn")
    c = order.canonical
    assert c["payment"]["method"] == "cod" and c["payment"]["status"] == "unpaid"
    assert c["discounts"] == [{"code": "会员折扣", "amount": "5.00"}]
    assert c["shipping_fee"] == "0.00" and c["currency"] == "CNY"
    assert c["lines"] == [
        {
            "sku": "CUP-QINGHUA",
            "quantity": 2,
            "unit_price": "64.50",
            "discount": "0.00",
            "name": "景德镇青花瓷茶杯",
        }
    ]
    a = c["shipping_address"]
    assert (a["country"], a["region"], a["city"], a["name"]) == ("CN", "浙江省", "杭州市", "李小红")  # CN12
    assert loaded["shipping_address"]["region_code"] == "CN-ZJ"
    assert a["lines"] == ["西湖区文三路 138 号", "2 单元 301 室"] and a["phone"] == "13912345678"
    assert sum(
        line["unit_price"] * line["quantity"] - line["discount"] for line in loaded["lines"]
    ) - Decimal("5") == Decimal("124.00")


def test_purchase_order_gateway_makes_a_b2b_order_on_terms_held_in_channel():
    order, _ = mapped("woocommerce_order_po_on_hold")
    c = order.canonical
    assert c["b2b"] is True
    assert c["payment"]["method"] == "terms" and c["payment"]["po_number"] == "PO-2024-0078"
    assert c["payment"]["status"] == "unpaid" and c["shipping_method"] == "express"
    assert c["shipping_address"]["lines"][0] == "Acme Hospital Supply Inc."
    assert c["lines"][0]["unit_price"] == "24.99" and c["lines"][0]["quantity"] == 50
    assert order.native_status == "on-hold" and "status:on-hold" in order.flags and not order.cancelled


@pytest.mark.parametrize(
    "status, paid, cancelled",
    [
        ("pending", False, False),
        ("processing", True, False),
        ("on-hold", False, False),
        ("completed", True, False),
        ("cancelled", False, True),
        ("refunded", True, True),
        ("failed", False, False),
    ],
)
def test_status_words_give_payment_status_and_cancellation(status, paid, cancelled):
    payload = fixture("woocommerce_order_cancelled")
    payload["status"] = status
    order = woocommerce.to_canonical(payload, "m-woo")
    assert (order.canonical["payment"]["status"] == "paid") is paid
    assert order.cancelled is cancelled and order.native_status == status


def test_unknown_status_is_flagged():
    payload = fixture("woocommerce_order_cancelled")
    payload["status"] = "shipped-partially"
    assert "unknown_status:shipped-partially" in woocommerce.to_canonical(payload, "m-woo").flags


@pytest.mark.parametrize(
    "path, value, field_path",
    [
        (("line_items", 1, "quantity"), "3x", "line_items.1.quantity"),
        (("line_items", 0, "total"), "60.00", "line_items.0.total"),
        (("line_items", 0, "subtotal"), {"amount": 1}, "line_items.0.subtotal"),
        (("shipping_lines", 0, "total"), "free", "shipping_lines.0.total"),
        (("date_created_gmt",), None, "date_created_gmt"),
    ],
)
def test_malformed_fields_raise_payload_error_naming_the_woocommerce_path(path, value, field_path):
    payload = fixture("woocommerce_order_processing_coupon")
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(PayloadError) as err:
        woocommerce.to_canonical(payload, "m-woo")
    assert err.value.field_path == field_path


def test_signature_accepts_the_right_hmac_and_refuses_tampering():
    body = (FIXTURES / "woocommerce_order_processing_coupon.json").read_bytes()
    good = base64.b64encode(hmac.new(b"wc-secret", body, hashlib.sha256).digest()).decode()
    woocommerce.verify({"X-WC-Webhook-Signature": good}, body, "wc-secret")
    for headers, raw, secret in [
        ({"X-WC-Webhook-Signature": good}, body + b" ", "wc-secret"),
        ({"X-WC-Webhook-Signature": good}, body, "nope"),
        ({"X-WC-Webhook-Topic": "order.created"}, body, "wc-secret"),
    ]:
        with pytest.raises(BadSignature):
            woocommerce.verify(headers, raw, secret)


def test_dedupe_key_is_one_per_version_of_the_order():
    payload = fixture("woocommerce_order_processing_coupon")
    assert woocommerce.dedupe_key({}, payload) == "4821@2024-03-05T10:16:02"
    assert woocommerce.dedupe_key({"X-WC-Webhook-Delivery-ID": "77"}, {"webhook_id": "3"}) == "77"


def test_outbound_note_and_status_update():
    assert woocommerce.shipped_note("SF1402345678901", "SF Express") == {
        "note": "Shipped with SF Express, tracking number SF1402345678901",
        "customer_note": True,
    }
    assert woocommerce.order_note("internal", customer_note=False) == {
        "note": "internal",
        "customer_note": False,
    }
    assert woocommerce.status_update("completed") == {"status": "completed"}
    with pytest.raises(PayloadError):
        woocommerce.status_update("shipped")
