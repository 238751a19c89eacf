"""Refunds reach the channel through the outbox: an after-sales refund on a shipped native order is
sent once to Shopify (calculate, then create with the parent transaction) and WooCommerce (order
refund), and a refund the channel itself reports is recorded without being told back to it.
(Taobao, whose API has no seller-initiated refund: tests/e2e/test_taobao.py.)"""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta

import pytest

from adapters.seed import load_world
from adapters.simulators.server import DROPPED
from tests import factories
from tests.e2e.test_channels import CASES, SECRET, _fixture
from tests.helpers import eventually, get_order, http, order_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]
PATHS = {"shopify": "/refunds.json", "woocommerce": "/refunds"}




def _shipped_native_order(fmt: str, api: str, wms, carrier, shop) -> tuple[str, dict, bytes]:
    fixture, adapt, sign, _ = CASES[fmt]
    world = factories.world(wms.url, carrier.url)
    world["channels"].append({"id": fmt, "format": fmt, "merchant_id": "m1", "secret": SECRET,
                              "api_url": shop.url, **factories.SHOP_CREDENTIALS})
    load_world(world)
    body = adapt(_fixture("channels", fixture))
    if fmt == "shopify":
        shop.add_order(body)  # the shop holds the order it sent (its fulfillment orders)
    raw = json.dumps(body, ensure_ascii=False).encode()
    r = http.post(f"{api}/v1/channels/{fmt}/orders", content=raw, headers={**sign(raw), "Content-Type": "application/json"},
                  timeout=5)
    assert r.status_code == 202, r.text
    order_id = r.json()["order_id"]
    order = eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                       and all(f["status"] == "dispatched" for f in o["fulfilments"]) and o, what="dispatched")
    for f in order["fulfilments"]:
        wms.progress(f["id"])
    order_in(api, order_id, status="shipped")
    return order_id, body, raw


def _refund(api: str, order_id: str, amount: str) -> dict:
    opened = http.post(f"{api}/v1/orders/{order_id}/after-sales", timeout=5,
                       json={"type": "refund_only", "amount": amount, "lines": [{"line_no": 1, "quantity": 1}],
                             "reason": "arrived damaged"})
    assert opened.status_code == 201, opened.text
    case = opened.json()
    if case["status"] == "pending_review":
        assert http.post(f"{api}/v1/after-sales/{case['case_id']}/approve", timeout=5).status_code == 200
    done = http.post(f"{api}/v1/after-sales/{case['case_id']}/refund", timeout=5)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "succeeded"
    return done.json()


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_after_sales_refund_is_sent_to_the_channel_once(fmt, api, worker, wms, carrier, shop):
    shop.reply("/refunds/calculate.json", {"refund": {"currency": "USD", "transactions": [
        {"parent_id": 801038806, "amount": "0.00", "kind": "suggested_refund", "gateway": "bogus",
         "maximum_refundable": "500.00"}]}})
    order_id, body, _ = _shipped_native_order(fmt, api, wms, carrier, shop)
    case = _refund(api, order_id, "5.00")
    key = f"{case['case_id']}:refunded"

    eventually(lambda: next(e for e in get_order(api, order_id)["outbox"] if e["id"] == key)["state"] == "sent",
               what="refund notice sent")
    effects = [k for k in shop.effects if k.startswith(key)]
    assert effects == [key]  # one refund at the channel, whatever the retries
    sent = shop.effects[key].body
    oid = get_order(api, order_id)["channel_order_id"]
    assert shop.effects[key].path.endswith(f"/orders/{oid}{PATHS[fmt]}")
    if fmt == "shopify":
        refund = sent["refund"]
        assert refund["transactions"] == [{"parent_id": 801038806, "amount": "5.00", "kind": "refund", "gateway": "bogus"}]
        assert refund["refund_line_items"] == [{"line_item_id": str(body["line_items"][0]["id"]), "quantity": 1,
                                               "restock_type": "no_restock"}]
        assert len(shop.calls_to("POST", "/refunds/calculate.json")) >= 1
    else:
        assert sent == {"amount": "5.00", "reason": "arrived damaged", "api_refund": True,
                        "meta_data": [{"key": "_orderrouter_notice", "value": key}]}  # what a retry looks for

    # Refunding the same case again is refused and sends nothing more
    again = http.post(f"{api}/v1/after-sales/{case['case_id']}/refund", timeout=5)
    assert again.status_code == 409
    assert [k for k in shop.effects if k.startswith(key)] == [key]


def test_a_refund_the_channel_reports_is_recorded_and_not_echoed(api, worker, wms, carrier, shop):
    order_id, body, _ = _shipped_native_order("woocommerce", api, wms, carrier, shop)
    _, _, sign, _ = CASES["woocommerce"]
    update = copy.deepcopy(body)
    update["refunds"] = [{"id": 77, "reason": "refunded in the shop", "total": "-3.00"}]
    modified = datetime.fromisoformat(update["date_modified_gmt"]) + timedelta(hours=1)
    update["date_modified_gmt"] = modified.isoformat()
    raw = json.dumps(update, ensure_ascii=False).encode()
    headers = {**sign(raw), "Content-Type": "application/json", "X-WC-Webhook-Delivery-ID": "d-2",
               "X-WC-Webhook-Topic": "order.updated"}
    r = http.post(f"{api}/v1/channels/woocommerce/orders", content=raw, headers=headers, timeout=5)
    assert r.status_code == 200 and r.json()["order_id"] == order_id

    order = get_order(api, order_id)
    cases = order["after_sales"]
    assert [(c["type"], c["amount"], c["status"]) for c in cases] == [("refund_only", "3.00", "succeeded")]
    assert order["payment_status"] == "partially_refunded"
    assert all(e.get("case_id") != cases[0]["case_id"] for e in order.get("outbox", []))  # nothing to tell the shop
    # The same update delivered again records nothing more
    http.post(f"{api}/v1/channels/woocommerce/orders", content=raw, headers=headers, timeout=5)
    assert len(get_order(api, order_id)["after_sales"]) == 1
    assert shop.calls_to(contains="refund") == []


def test_a_shopify_refund_whose_answer_was_lost_is_not_made_twice(api, worker, wms, carrier, shop):
    # Given Shopify, whose refunds endpoint takes no idempotency key, and an answer lost after the
    # refund was made there
    shop.reply("/refunds/calculate.json", {"refund": {"currency": "USD", "transactions": [
        {"parent_id": 801038806, "amount": "0.00", "kind": "suggested_refund", "gateway": "bogus",
         "maximum_refundable": "500.00"}]}})
    order_id, _, _ = _shipped_native_order("shopify", api, wms, carrier, shop)
    shop.drop_after_success_next(1, "/refunds.json", "POST")

    # When the refund is sent (and retried, since the router never heard back)
    case = _refund(api, order_id, "5.00")
    key = f"{case['case_id']}:refunded"
    eventually(lambda: next(e for e in get_order(api, order_id)["outbox"] if e["id"] == key)["state"] == "sent",
               what="refund notice sent")

    # Then Shopify holds one refund, found by the router's mark in its note before a second one
    posts = shop.calls_to("POST", "/refunds.json")
    assert [c.status for c in posts] == [DROPPED]
    assert [k for k in shop.effects if k.startswith(key)] == [key]
    assert f"[router {key}]" in shop.effects[key].body["refund"]["note"]
    assert len(shop.calls_to("GET", "/refunds.json")) == 2  # before the first try, and before the retry
