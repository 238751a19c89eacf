"""Taobao / Tmall trades -> canonical orders, signature and the offline consignment builder."""

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.channels import taobao, top
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


def test_pushed_trades_are_refused_as_taobao_orders_are_polled_and_the_dedupe_key_is_per_version():
    body = (FIXTURES / "taobao_trade_paid.json").read_bytes()
    good = hmac.new(b"top-secret", body, hashlib.sha256).hexdigest().upper()
    with pytest.raises(BadSignature, match="polled"):
        taobao.verify({"X-Top-Sign": good}, body, "top-secret")  # the invented bridge header is gone
    assert taobao.FORMAT.polled and "orderrouter poll taobao" in taobao.FORMAT.polled
    assert taobao.dedupe_key({}, fixture("taobao_trade_paid")) == "3581234567890123456@2024-03-05 20:16:02"


def test_offline_consignment_request():
    assert taobao.offline_consignment(3581234567890123456, "SF", "SF1402345678901") == {
        "tid": "3581234567890123456",
        "out_sid": "SF1402345678901",
        "company_code": "SF",
    }
    split = taobao.offline_consignment("1", "ZTO", "ZTO1", sub_tids=[11, 12])
    assert split["sub_tid"] == "11,12" and split["is_split"] == 1


def test_sub_orders_by_sku_and_a_consignment_read_back():
    raw = fixture("taobao_trade_paid")
    assert taobao.sub_orders_of(raw, ["CUP-GLASS-350"]) == ["3581234567890123458"]
    assert taobao.sub_orders_of(raw, ["TEA-LONGJING-250G", "CUP-GLASS-350"]) == [
        "3581234567890123457", "3581234567890123458"]
    trade = raw["trade_fullinfo_get_response"]["trade"]
    assert not taobao.consigned_with({"trade": trade}, [], "SF1")
    trade["orders"]["order"][1]["invoice_no"] = "SF1"
    assert taobao.consigned_with({"trade": trade}, ["3581234567890123458"], "SF1")
    assert not taobao.consigned_with({"trade": trade}, [], "SF1")  # the other sub-order is not consigned
    assert not taobao.consigned_with({"trade": trade}, ["3581234567890123458"], "SF2")


def test_a_listed_refund_maps_and_junk_names_its_field():
    refund = taobao.refund_of({"refund_id": 9100000000001, "tid": "3581234567890123456", "oid": 3581234567890123458,
                               "refund_fee": "99.00", "status": "SUCCESS", "modified": "2024-03-08 10:00:00"})
    assert (refund.refund_id, refund.tid, refund.oid, refund.amount, refund.status) == (
        "9100000000001", "3581234567890123456", "3581234567890123458", Decimal("99.00"), "SUCCESS")
    assert refund.modified == datetime(2024, 3, 8, 10, 0, tzinfo=CHINA)
    with pytest.raises(PayloadError) as err:
        taobao.refund_of({"refund_id": "1", "tid": "2", "refund_fee": "abc", "status": "SUCCESS"})
    assert err.value.field_path == "refund.refund_fee"


# --- TOP's signed calls (adapters/channels/top.py) ---------------------------------------------

DOCUMENTED = {  # TOP's own signing example (open.taobao.com, 签名算法): secret "helloworld"
    "method": "taobao.item.seller.get", "app_key": "12345678", "session": "test", "timestamp": "2016-01-01 12:00:00",
    "format": "json", "v": "2.0", "sign_method": "md5", "fields": "num_iid,title,nick,price,num", "num_iid": "11223344"}


def test_md5_sign_matches_tops_documented_example():
    assert top.sign(DOCUMENTED, "helloworld") == "66987CB115214E59E6EC978214934FB8"
    assert top.sign({**DOCUMENTED, "sign": "ANYTHING", "empty": ""}, "helloworld") == "66987CB115214E59E6EC978214934FB8"


def test_hmac_and_hmac_sha256_sign_the_sorted_parameters_keyed_by_the_secret():
    text = "".join(f"{k}{v}" for k, v in sorted(DOCUMENTED.items())).encode()
    assert top.sign(DOCUMENTED, "helloworld", "hmac") == hmac.new(b"helloworld", text, hashlib.md5).hexdigest().upper()
    assert top.sign({**DOCUMENTED, "sign_method": "hmac-sha256"}, "helloworld") == hmac.new(
        b"helloworld", text.replace(b"sign_methodmd5", b"sign_methodhmac-sha256"), hashlib.sha256).hexdigest().upper()
    with pytest.raises(BadSignature):
        top.sign(DOCUMENTED, "helloworld", "sha1")


def test_a_signed_call_carries_the_system_parameters_in_china_time_and_signs_the_business_ones_too():
    now = datetime(2024, 3, 5, 12, 0, 1, tzinfo=timezone.utc)
    system = top.system_parameters("taobao.trade.fullinfo.get", "12345678", "sess", now, "hmac-sha256")
    params = top.signed(system, {"tid": 1, "fields": "tid,orders", "use_has_next": True}, "s3cret")
    assert {k: params[k] for k in ("method", "app_key", "session", "timestamp", "v", "format", "sign_method")} == {
        "method": "taobao.trade.fullinfo.get", "app_key": "12345678", "session": "sess",
        "timestamp": "2024-03-05 20:00:01", "v": "2.0", "format": "json", "sign_method": "hmac-sha256"}
    everything = {**system, "tid": "1", "fields": "tid,orders", "use_has_next": "true"}
    assert params["sign"] == top.sign(everything, "s3cret")
    top.check_request({**everything, "sign": params["sign"]}, app_key="12345678", secret="s3cret", session="sess",
                      now=now + timedelta(minutes=9))


@pytest.mark.parametrize("change, code", [
    ({"app_key": "other"}, top.INVALID_APP_KEY),
    ({"sign": "0" * 32}, top.INVALID_SIGNATURE),
    ({"tid": "2"}, top.INVALID_SIGNATURE),  # a parameter changed after signing
    ({"session": "stolen"}, top.INVALID_SESSION),
    ({"timestamp": "2024-03-05 19:49:00"}, top.INVALID_TIMESTAMP),  # 11 minutes old
    ({"timestamp": "20240305"}, top.INVALID_TIMESTAMP),
])
def test_top_refuses_what_it_documents_refusing(change, code):
    now = datetime(2024, 3, 5, 12, 0, 1, tzinfo=timezone.utc)
    system = top.system_parameters("taobao.trade.fullinfo.get", "12345678", "sess", now)
    params = {**top.signed(system, {"tid": "1"}, "s3cret"), "tid": "1"}
    params.update(change)
    if "sign" not in change and set(change) & {"app_key", "session", "timestamp"}:
        params["sign"] = top.sign(params, "s3cret")  # signed right, refused for what it says
    with pytest.raises(top.TopError) as refused:
        top.check_request(params, app_key="12345678", secret="s3cret", session="sess", now=now)
    assert refused.value.code == code


def test_answers_are_unwrapped_and_errors_raised_with_their_codes():
    assert top.response_key("taobao.trades.sold.increment.get") == "trades_sold_increment_get_response"
    answer = top.unwrap("taobao.trades.sold.increment.get", {"trades_sold_increment_get_response": {
        "total_results": 1, "trades": {"trade": {"tid": 1}}}})
    assert top.listed(answer, "trades", "trade") == [{"tid": 1}]
    assert top.listed({"total_results": 0}, "trades", "trade") == []
    with pytest.raises(top.TopError) as limited:
        top.unwrap("taobao.trade.fullinfo.get", {"error_response": {"code": 7, "msg": "App Call Limited",
                                                                   "sub_code": "accesscontrol.limited-by-api-access-count"}})
    assert limited.value.retryable and limited.value.code == 7
    with pytest.raises(top.TopError) as wrong:
        top.unwrap("taobao.trade.fullinfo.get", {"error_response": {"code": 25, "msg": "Invalid Signature"}})
    assert not wrong.value.retryable
    with pytest.raises(top.TopError):
        top.unwrap("taobao.trade.fullinfo.get", {"something_else": {}})
