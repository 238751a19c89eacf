"""Taobao / Tmall trades -> canonical orders, signature and the offline consignment builder."""

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.channels import taobao
from adapters.errors import BadSignature, PayloadError
from adapters.schemas import CanonicalOrderSchema

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent.parent / "fixtures" / "channels"
CHINA = timezone(timedelta(hours=8))


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def mapped(name: str):
    order = taobao.to_canonical(fixture(name), "m-tb")
    return order, CanonicalOrderSchema().load(order.canonical)


def test_paid_trade_maps_sub_orders_with_divide_order_fee_discounts_and_a_chinese_address():
    order, loaded = mapped("taobao_trade_paid")
    c = order.canonical
    assert (
        c["channel_order_id"] == "3581234567890123456"
        and c["currency"] == "CNY"
        and c["merchant_id"] == "m-tb"
    )
    assert [(line["sku"], line["quantity"], line["unit_price"], line["discount"]) for line in c["lines"]] == [
        ("TEA-LONGJING-250G", 1, "198.00", "20.00"),
        ("CUP-GLASS-350", 2, "99.00", "20.00"),
    ]
    assert c["shipping_fee"] == "0.00" and c["discounts"] == []  # divide_order_fee has them all
    assert c["payment"] == {
        "method": "online",
        "status": "paid",
        "transaction_id": "2024030522001411111111111111",
    }
    assert c["shipping_address"] == {
        "name": "张三",
        "phone": "13800138000",
        "country": "CN",
        "region": "浙江省",  # as the buyer wrote it; the canonical schema adds its code
        "city": "杭州市",
        "district": "西湖区",
        "postcode": "310012",
        "lines": ["文三路 138 号东方通信大厦 5 楼"],
    }
    assert loaded["shipping_address"]["region"] == "浙江省" and loaded["shipping_address"]["region_code"] == "CN-ZJ"
    assert c["notes"] == "请尽快发货，谢谢"
    assert loaded["placed_at"] == datetime(2024, 3, 5, 20, 15, 30, tzinfo=CHINA)
    assert order.updated_at == datetime(2024, 3, 5, 20, 16, 2, tzinfo=CHINA)
    net = sum(line["unit_price"] * line["quantity"] - line["discount"] for line in loaded["lines"])
    assert net + loaded["shipping_fee"] == Decimal("356.00")  # the trade's payment
    assert order.native_status == "WAIT_SELLER_SEND_GOODS" and order.flags == [] and not order.cancelled


def test_cod_trade_leaves_out_closed_sub_orders_and_flags_open_refunds():
    order, _ = mapped("taobao_trade_cod_partial_refund")
    c = order.canonical
    assert c["payment"]["method"] == "cod" and c["payment"]["status"] == "unpaid"
    assert [(line["sku"], line["quantity"]) for line in c["lines"]] == [
        ("SHIRT-LINEN", 2)
    ]  # outer_iid as the SKU
    assert "refund:3581234567890200002:WAIT_SELLER_AGREE" in order.flags
    assert "line_closed:3581234567890200003" in order.flags
    a = c["shipping_address"]
    assert (a["region"], a["city"], a["district"]) == ("广东省", "深圳市", "南山区")
    assert a["lines"] == ["粤海街道", "科技园南区高新南一道 9 号"] and c["shipping_fee"] == "10.00"


def test_closed_trade_is_cancelled_and_keeps_its_lines():
    order, _ = mapped("taobao_trade_closed")
    assert order.cancelled and order.native_status == "TRADE_CLOSED_BY_TAOBAO"
    assert order.canonical["lines"][0]["sku"] == "TEA-PUER-357"  # a single sub-order as an object, not a list
    assert order.canonical["shipping_address"]["region"] == "北京"
    assert CanonicalOrderSchema().load(order.canonical)["shipping_address"]["region_code"] == "CN-BJ"


@pytest.mark.parametrize(
    "status, paid, cancelled",
    [
        ("WAIT_BUYER_PAY", False, False),
        ("WAIT_SELLER_SEND_GOODS", True, False),
        ("SELLER_CONSIGNED_PART", True, False),
        ("WAIT_BUYER_CONFIRM_GOODS", True, False),
        ("TRADE_FINISHED", True, False),
        ("TRADE_CLOSED", False, True),
    ],
)
def test_status_words(status, paid, cancelled):
    payload = fixture("taobao_trade_closed")
    payload["trade"]["status"] = payload["trade"]["orders"]["order"]["status"] = status
    order = taobao.to_canonical(payload, "m-tb")
    assert (order.canonical["payment"]["status"] == "paid") is paid and order.cancelled is cancelled


def test_unknown_status_and_unknown_province_are_flagged():
    payload = fixture("taobao_trade_closed")
    payload["trade"].update(status="SOME_NEW_STATUS", receiver_state="火星省")
    payload["trade"]["orders"]["order"]["status"] = "SOME_NEW_STATUS"
    order = taobao.to_canonical(payload, "m-tb")
    assert "unknown_status:SOME_NEW_STATUS" in order.flags and "unmapped_region:火星省" in order.flags
    assert order.canonical["shipping_address"]["region"] == "火星省"
    assert CanonicalOrderSchema().load(order.canonical)["shipping_address"]["region_code"] == ""  # not known


@pytest.mark.parametrize(
    "key, value, field_path",
    [
        ("num", "两", "trade_fullinfo_get_response.trade.orders.order.1.num"),
        ("price", "abc", "trade_fullinfo_get_response.trade.orders.order.1.price"),
        ("outer_sku_id", None, None),
    ],
)
def test_malformed_sub_orders_name_the_top_path(key, value, field_path):
    payload = fixture("taobao_trade_paid")
    sub = payload["trade_fullinfo_get_response"]["trade"]["orders"]["order"][1]
    sub[key] = value
    if field_path is None:  # falls back to outer_iid
        assert taobao.to_canonical(payload, "m-tb").canonical["lines"][1]["sku"] == "CUP-GLASS"
        return
    with pytest.raises(PayloadError) as err:
        taobao.to_canonical(payload, "m-tb")
    assert err.value.field_path == field_path


def test_signature_and_dedupe_key():
    body = (FIXTURES / "taobao_trade_paid.json").read_bytes()
    good = hmac.new(b"top-secret", body, hashlib.sha256).hexdigest().upper()
    taobao.verify({"X-Top-Sign": good}, body, "top-secret")
    with pytest.raises(BadSignature):
        taobao.verify({"X-Top-Sign": good}, body[:-2], "top-secret")
    with pytest.raises(BadSignature):
        taobao.verify({"X-Top-Sign": good}, body, "wrong")
    with pytest.raises(BadSignature):
        taobao.verify({}, body, "top-secret")
    assert taobao.dedupe_key({}, fixture("taobao_trade_paid")) == "3581234567890123456@2024-03-05 20:16:02"


def test_offline_consignment_request():
    assert taobao.offline_consignment(3581234567890123456, "SF", "SF1402345678901") == {
        "method": "taobao.logistics.offline.send",
        "tid": "3581234567890123456",
        "out_sid": "SF1402345678901",
        "company_code": "SF",
    }
    split = taobao.offline_consignment("1", "ZTO", "ZTO1", sub_tids=[11, 12])
    assert split["sub_tid"] == "11,12" and split["is_split"] == 1
