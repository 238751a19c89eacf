"""Customer e-mail notifications' pure rules (router/notifications.py): which timeline entries
notify, the switches, the language, and the words of each e-mail."""
from __future__ import annotations

from decimal import Decimal

import pytest

from router import notifications as n

pytestmark = pytest.mark.unit


def entry(event: str, **changes) -> dict:
    return {"event": event, "details": {"changes": {k.replace("__", "."): v for k, v in changes.items()}}}


def test_each_kind_comes_from_the_entry_that_records_it():
    assert n.kinds_of(entry("payment.paid", status=["pending_payment", "awaiting_shipment"])) == [(n.CONFIRMED, {})]
    assert n.kinds_of(entry("fulfilment.shipped", fulfilments__F2=["packed", "shipped"],
                            fulfilments__F1=["packed", "shipped"])) == [(n.SHIPPED, {"fulfilment_ids": ["F1", "F2"]})]
    assert n.kinds_of(entry("fulfilment.delivered", shipment_status=["shipped", "delivered"])) == [(n.DELIVERED, {})]
    assert n.kinds_of(entry("payment.refunded", refunded_amount=["1.50", "6.00"])) == \
        [(n.REFUNDED, {"amount": Decimal("4.50")})]
    assert n.kinds_of({"event": "exception.flagged", "details": {"kind": "lost"}}) == [(n.EXCEPTION, {"reason": "lost"})]


def test_entries_that_change_nothing_a_customer_hears_of_notify_nobody():
    assert n.kinds_of(entry("routing.routed", fulfilments__F1=[None, "reserved"])) == []
    assert n.kinds_of(entry("fulfilment.in_transit", fulfilments__F1=["shipped", "in_transit"])) == []
    assert n.kinds_of(entry("order.status", status=["shipped", "awaiting_shipment"])) == []  # not a confirmation
    assert n.kinds_of({"event": "exception.resolved", "details": None}) == []


def test_once_per_order_kinds_share_one_id_whatever_entry_raised_them():
    assert n.notification_id("O1", 2, n.CONFIRMED) == n.notification_id("O1", 9, n.CONFIRMED) == "ntf-O1-confirmed"
    assert n.notification_id("O1", 7, n.SHIPPED) != n.notification_id("O1", 9, n.SHIPPED)


def test_the_channel_and_the_merchant_switch_e_mails_off():
    assert n.wanted(n.SHIPPED, None, None) is None
    assert n.wanted(n.SHIPPED, None, {"notifies_customers": True}) == "channel_notifies"
    assert n.wanted(n.SHIPPED, {"notifications": {"email": {"enabled": False}}}, {}) == "merchant_off"
    only_shipped = {"notifications": {"email": {"events": [n.SHIPPED]}}}
    assert n.wanted(n.SHIPPED, only_shipped, {}) is None
    assert n.wanted(n.CONFIRMED, only_shipped, {}) == "kind_off"


def test_language_is_the_customers_then_the_channels_then_the_merchants_then_english():
    zh_merchant = {"notifications": {"email": {"language": "zh"}}}
    assert n.language_of("zh-CN", None, None) == "zh"
    assert n.language_of("en_US", {"locale": "zh"}, zh_merchant) == "en"
    assert n.language_of("", {"locale": "zh-Hans"}, None) == "zh"
    assert n.language_of("fr", None, zh_merchant) == "zh"  # no French templates: the next that has one
    assert n.language_of(None, None, None) == "en"


def test_a_shipped_e_mail_carries_each_tracking_number_and_link_and_the_order_link():
    facts = {"ref": "T-1", "name": "李雷", "order_link": "https://router.example/customer/?token=t",
             "parcels": [{"number": "FS1", "carrier": "FastShip",
                          "link": n.tracking_link("https://t.example/{tracking_number}", "FS1")},
                         {"number": "FS2", "carrier": None, "link": n.tracking_link(None, "FS2")}]}
    subject, body = n.render(n.SHIPPED, "zh", facts)
    assert subject == "您的订单 T-1 已发货"
    assert "运单号 FS1 (FastShip)：https://t.example/FS1" in body and "运单号 FS2\n" in body
    assert "查看订单：https://router.example/customer/?token=t" in body
    subject, body = n.render(n.REFUNDED, "en", {"ref": "T-1", "amount": Decimal("4.50"), "currency": "USD"})
    assert subject == "A refund for your order T-1" and "We have refunded 4.50 USD for your order T-1." in body
