"""Money end to end through the real pieces (HTTP in, RabbitMQ, the Dramatiq worker, the wire
server, simulated WMS, carriers and channel): tax-inclusive and tax-exclusive WooCommerce and
Shopify orders payable at exactly the platform's stated total, an order whose stated total differs
held with both figures, a split cash-on-delivery order whose delivery orders each collect their
own share, and paid orders cancelled and refunded where the money came from (the channel's refund
API once, or the payment service)."""
from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest

from adapters.seed import load_world
from tests import factories
from tests.e2e.test_channels import CASES, SECRET, _fixture
from tests.helpers import eventually, get_order, http, order_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]
PAYMENTS = {"Authorization": "Bearer test-payments"}
# Shopify's refunds/calculate.json answer: the transaction a refund goes back through
SHOPIFY_CALCULATED = {"refund": {"currency": "USD", "transactions": [
    {"parent_id": 801038806, "amount": "0.00", "kind": "suggested_refund", "gateway": "shopify_payments",
     "maximum_refundable": "500.00"}]}}
# fixture, its stated total, its tax total, whether its prices include the tax
TAX_ORDERS = {
    "woocommerce-inclusive": ("woocommerce", "woocommerce_order_tax_inclusive.json", "70.00", "11.17", True),
    "woocommerce-exclusive": ("woocommerce", "woocommerce_order_tax_exclusive.json", "69.35", "5.65", False),
    "shopify-inclusive": ("shopify", "shopify_order_tax_inclusive.json", "77.89", "12.98", True),
    "shopify-exclusive": ("shopify", "shopify_order_tax_exclusive.json", "157.33", "12.33", False),
}


def _world(wms, carrier, shop, fmt: str) -> None:
    world = factories.world(wms.url, carrier.url)
    world["channels"].append({"id": fmt, "format": fmt, "merchant_id": "m1", "secret": SECRET,
                              "api_url": shop.url, **factories.SHOP_CREDENTIALS})
    load_world(world)


def _push(api: str, fmt: str, body: dict) -> str:
    _, adapt, sign, _ = CASES[fmt]
    raw = json.dumps(adapt(body), ensure_ascii=False).encode()
    r = http.post(f"{api}/v1/channels/{fmt}/orders", content=raw, timeout=5,
                  headers={**sign(raw), "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    return r.json()["order_id"]


def _dispatched(api: str, order_id: str) -> dict:
    return eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                      and all(f["status"] == "dispatched" for f in o["fulfilments"]) and o, what="dispatched")


def _ship(api: str, wms, order: dict) -> dict:
    for f in order["fulfilments"]:
        wms.progress(f["id"])
    return order_in(api, order["order_id"], status="shipped")


@pytest.mark.parametrize("case", sorted(TAX_ORDERS))
def test_a_tax_order_is_payable_at_the_platforms_stated_total(case, api, worker, wms, carrier, shop):
    fmt, fixture, total, tax, included = TAX_ORDERS[case]
    _world(wms, carrier, shop, fmt)
    order_id = _push(api, fmt, _fixture("channels", fixture))

    order = _dispatched(api, order_id)
    assert order["routing"]["state"] == "routed" and order["status"] == "awaiting_shipment"
    assert Decimal(order["payable"]) == Decimal(total) == Decimal(order["stated_total"])
    amounts = order["amounts"]
    assert (Decimal(amounts["payable"]), Decimal(amounts["tax"]), amounts["tax_included"]) == \
        (Decimal(total), Decimal(tax), included)
    assert Decimal(order["paid_amount"]) == Decimal(total)  # paid at the channel: what it charged
    # the fulfilments share the payable and the tax to the cent
    assert sum(Decimal(f["amounts"]["payable"]) for f in order["fulfilments"]) == Decimal(total)
    assert sum(Decimal(f["amounts"]["tax"]) for f in order["fulfilments"]) == Decimal(tax)
    _ship(api, wms, order)


def test_a_woocommerce_tax_inclusive_order_keeps_the_discount_the_customer_saw(api, worker, wms, carrier, shop):
    # The failure seen: prices_include_tax true priced from the exclusive fields, 58.83 for 70.00
    _world(wms, carrier, shop, "woocommerce")
    order_id = _push(api, "woocommerce", _fixture("channels", "woocommerce_order_tax_inclusive.json"))
    order = _dispatched(api, order_id)
    line = order["lines"][0]
    assert (line["unit_price"], line["discount"], line["tax"], line["tax_rate"]) == ("25.00", "5.00", "7.18", "0.19")
    assert order["amounts"]["discount"] == "5.00" and order["amounts"]["freight"] == "5.00"
    _ship(api, wms, order)


def test_an_order_whose_total_differs_from_the_channels_is_held_with_both_figures(api, worker, wms, carrier, shop):
    _world(wms, carrier, shop, "woocommerce")
    body = _fixture("channels", "woocommerce_order_tax_inclusive.json")
    body["total"] = "75.00"  # the shop charged a fee the order does not show

    order = order_in(api, _push(api, "woocommerce", body), status="on_hold")

    routing = order["routing"]
    assert routing["state"] == "held" and routing["reason"].startswith("amount_mismatch")
    assert "75.00" in routing["reason"] and "70.00" in routing["reason"]
    assert [(p["field"], p["code"]) for p in routing["problems"]] == [("stated_total", "amount_mismatch")]
    assert order["fulfilments"] == [] and order["payable"] == "70.00"
    assert "approve_hold" in http.get(f"{api}/v1/orders/{order['order_id']}/allowed-commands", timeout=5).text


def test_a_split_cash_on_delivery_order_asks_each_warehouse_for_its_own_share(api, worker, seeded, wms):
    # SKU-B is only in WH-EAST, SKU-C only in WH-WEST: two delivery orders, each collecting its part
    body = seeded.order([("SKU-B", 2), ("SKU-C", 3)], payment_method="cod", shipping_fee="7.00", shipping_tax="0.56",
                        stated_total="61.56")
    body["lines"][0]["tax"], body["lines"][1]["tax"] = "1.60", "2.40"
    r = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5)
    assert r.status_code == 202, r.text

    order = _dispatched(api, r.json()["order_id"])
    assert order["payable"] == "61.56" and len(order["fulfilments"]) == 2
    asked = {f["id"]: wms.delivery_orders[f["id"]].request["cash_on_delivery"] for f in order["fulfilments"]}
    assert sorted(asked.values()) == ["24.62", "36.94"]  # goods + freight + tax of each, to the cent
    assert sum(Decimal(a) for a in asked.values()) == Decimal("61.56")
    assert {f["id"]: f["cod_amount"] for f in order["fulfilments"]} == asked
    _ship(api, wms, order)


def _refund_case(order: dict) -> dict:
    cases = [c for c in order["after_sales"] if c.get("cause") == "cancellation"]
    assert len(cases) == 1, order["after_sales"]
    return cases[0]


@pytest.mark.parametrize("fmt", ["shopify", "woocommerce"])
def test_a_paid_order_cancelled_is_refunded_through_the_channel_once(fmt, api, worker, wms, carrier, shop):
    shop.reply("/refunds/calculate.json", SHOPIFY_CALCULATED)
    _world(wms, carrier, shop, fmt)
    fixture = {"shopify": "shopify_order_tax_exclusive.json", "woocommerce": "woocommerce_order_tax_inclusive.json"}
    order = _dispatched(api, _push(api, fmt, _fixture("channels", fixture[fmt])))
    total = order["payable"]

    # When an operator cancels it: the warehouse intercepts it and the order is cancelled
    r = http.post(f"{api}/v1/orders/{order['order_id']}/cancel", timeout=5)
    assert r.status_code == 200, r.text

    # Then its money goes back through the channel's refund API, once, and the payment is refunded
    order = order_in(api, order["order_id"], status="cancelled", payment_status="refunded")
    case = _refund_case(order)
    assert (case["status"], case["amount"], case["refund_via"]) == ("succeeded", total, "channel")
    assert order["refunded_amount"] == total and order["refund_due"] is False
    key = f"{case['case_id']}:refunded"
    assert next(e for e in order["outbox"] if e["id"] == key)["state"] == "sent"
    assert [k for k in shop.effects if k.startswith(key)] == [key]  # one refund at the channel
    sent = shop.effects[key].body
    if fmt == "shopify":
        assert sent["refund"]["transactions"] == [{"parent_id": 801038806, "amount": total, "kind": "refund",
                                                   "gateway": "shopify_payments"}]
    else:
        assert sent == {"amount": total, "reason": "order cancelled", "api_refund": True,
                        "meta_data": [{"key": "_orderrouter_notice", "value": key}]}  # what a retry looks for
    assert [p["type"] for p in order["payments"]] == ["refunded"]
    assert any(p["kind"] == "refund_slip" for p in order["papers"])
    assert [k for k in shop.effects if k.endswith(":cancelled")] == [f"{order['order_id']}:cancelled"]


def test_a_paid_manual_order_cancelled_owes_its_refund_to_the_payment_service(api, worker, seeded):
    r = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 2)], paid=True), timeout=5)
    assert r.status_code == 202, r.text
    order_id = r.json()["order_id"]
    order = eventually(lambda: (o := get_order(api, order_id))["routing"]["state"] == "routed" and o, what="routed")

    assert http.post(f"{api}/v1/orders/{order_id}/cancel", timeout=5).status_code == 200
    order = order_in(api, order_id, status="cancelled")
    case = _refund_case(order)
    assert (case["status"], case["amount"], case["refund_via"]) == ("awaiting_refund", order["payable"], "payments")
    assert order["payment_status"] == "paid"  # until the payment service confirms it

    # The payment service reads what it owes, refunds it, and says so naming the case
    owed = http.get(f"{api}/v1/refunds", headers=PAYMENTS, timeout=5)
    assert owed.status_code == 200, owed.text
    assert [(o["case_id"], o["order_id"], o["amount"]) for o in owed.json()["refunds"]] == \
        [(case["case_id"], order_id, order["payable"])]
    r = http.post(f"{api}/v1/payments", headers=PAYMENTS, timeout=5, json={
        "order_id": order_id, "transaction_id": "re_123", "type": "refunded", "amount": order["payable"],
        "after_sales_case": case["case_id"]})
    assert r.status_code == 202, r.text

    order = order_in(api, order_id, payment_status="refunded")
    assert _refund_case(order)["status"] == "succeeded" and order["refunded_amount"] == order["payable"]
    assert http.get(f"{api}/v1/refunds", headers=PAYMENTS, timeout=5).json()["refunds"] == []


def test_a_paid_order_the_channel_cancels_and_refunds_is_recorded_refunded_and_nothing_echoed(
        api, worker, wms, carrier, shop):
    _world(wms, carrier, shop, "woocommerce")
    body = _fixture("channels", "woocommerce_order_tax_inclusive.json")
    order = _dispatched(api, _push(api, "woocommerce", body))

    # The shop cancels and refunds the order itself (WooCommerce: status refunded, its refund listed)
    update = copy.deepcopy(body)
    update.update(status="refunded", date_modified_gmt="2024-04-02T09:30:00",
                  refunds=[{"id": 7313, "reason": "customer changed their mind", "total": "-70.00"}])
    _, adapt, sign, _ = CASES["woocommerce"]
    raw = json.dumps(adapt(update), ensure_ascii=False).encode()
    r = http.post(f"{api}/v1/channels/woocommerce/orders", content=raw, timeout=5, headers={
        **sign(raw), "Content-Type": "application/json", "X-WC-Webhook-Delivery-ID": "d-2",
        "X-WC-Webhook-Topic": "order.updated"})
    assert r.status_code == 200 and r.json()["order_id"] == order["order_id"], r.text

    # Then the money is recorded refunded once, by the channel, and nothing is sent back to it
    order = eventually(lambda: (o := get_order(api, order["order_id"]))["status"] in ("cancelled", "closed")
                       and not o.get("cancel_requested") and o, what="cancelled at the warehouse too")
    assert order["payment_status"] == "refunded" and order["refunded_amount"] == "70.00"
    assert [p["amount"] for p in order["payments"] if p["type"] == "refunded"] == ["70.00"]
    assert shop.calls_to(contains="refund") == [] and shop.calls_to(contains="orders/") == []
