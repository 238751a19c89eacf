"""A native channel order end to end: the shop's webhook in (signed), routed, shipped by the fake
WMS, tracked by the carrier in its own format, and the shop told of the shipment exactly once.
(Taobao pushes no orders: they are polled from TOP, tests/e2e/test_taobao.py.)"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest

from adapters.seed import load_world
from adapters.simulators import tracking_push
from tests import factories
from tests.helpers import eventually, get_order, order_in, http

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]

FIXTURES = Path(__file__).parent.parent / "fixtures"
SECRET = "whsec-test"


def _fixture(kind: str, name: str) -> dict:
    return json.loads((FIXTURES / kind / name).read_text(encoding="utf-8"))


def _shopify(body: dict) -> dict:
    # the first two lines get stocked SKUs; any further line is dropped
    for item, sku in zip(body["line_items"], ("SKU-A", "SKU-C"), strict=False):
        item["sku"] = sku
    body["line_items"] = body["line_items"][:2]
    return body


def _woocommerce(body: dict) -> dict:
    # the first two lines get stocked SKUs; any further line is dropped
    for item, sku in zip(body["line_items"], ("SKU-A", "SKU-C"), strict=False):
        item["sku"] = sku
    body["line_items"] = body["line_items"][:2]
    return body


CASES = {
    "shopify": ("shopify_order_paid_multiline.json", _shopify,
                lambda raw: {"X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode(),
                             "X-Shopify-Webhook-Id": "wh-1", "X-Shopify-Topic": "orders/create"},
                "fulfillments.json"),
    "woocommerce": ("woocommerce_order_processing_coupon.json", _woocommerce,
                    lambda raw: {"X-WC-Webhook-Signature": base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode(),
                                 "X-WC-Webhook-Delivery-ID": "d-1", "X-WC-Webhook-Topic": "order.created"},
                    "/notes"),
}



@pytest.mark.parametrize("fmt", sorted(CASES))
def test_native_order_is_routed_shipped_tracked_and_the_shop_told_once(fmt, api, worker, db, wms, carrier, shop):
    fixture, adapt, sign, notice_path = CASES[fmt]
    world = factories.world(wms.url, carrier.url)
    world["channels"].append({"id": fmt, "format": fmt, "merchant_id": "m1", "secret": SECRET,
                              "api_url": shop.url, **factories.SHOP_CREDENTIALS})
    for c in world["carriers"]:
        c["tracking_format"] = "aftership"  # the carriers speak AfterShip here
    load_world(world)
    native = adapt(_fixture("channels", fixture))
    if fmt == "shopify":
        shop.add_order(native)  # the shop holds the order it sent (its fulfillment orders)
    raw = json.dumps(native, ensure_ascii=False).encode()

    # A bad signature is refused and stores nothing
    bad = http.post(f"{api}/v1/channels/{fmt}/orders", content=raw, timeout=5,
                     headers={**sign(raw + b" "), "Content-Type": "application/json"})
    assert bad.status_code == 401
    assert http.get(f"{api}/v1/orders", params={"channel": fmt}, timeout=5).json()["orders"] == []

    # The signed webhook is accepted once; its redelivery is a duplicate
    headers = {**sign(raw), "Content-Type": "application/json"}
    first = http.post(f"{api}/v1/channels/{fmt}/orders", content=raw, headers=headers, timeout=5)
    again = http.post(f"{api}/v1/channels/{fmt}/orders", content=raw, headers=headers, timeout=5)
    assert first.status_code == 202, first.text
    assert again.status_code == 200 and again.json()["order_id"] == first.json()["order_id"]
    order_id = first.json()["order_id"]
    order = eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                       and all(f["status"] == "dispatched" for f in o["fulfilments"]) and o, what="dispatched")
    assert order["raw"] and order["channel"] == fmt

    # The warehouse ships every fulfilment (and repeats one shipped event)
    for f in order["fulfilments"]:
        wms.progress(f["id"])
    order = order_in(api, order_id, status="shipped")
    first_f = order["fulfilments"][0]
    wms.send_event(first_f["id"], "shipped")

    # The carrier reports delivery in AfterShip's format
    for f in order["fulfilments"]:
        event = copy.deepcopy(_fixture("tracking", "aftership_in_transit.json"))
        event["msg"]["tracking_number"] = f["tracking_number"]
        event["msg"]["tag"], event["msg"]["subtag"] = "Delivered", "Delivered_001"
        event["event_id"] = f"as-{f['id']}"
        raw = tracking_push.encode(event)  # signed as AfterShip signs it, no bearer token
        r = httpx.post(f"{api}/v1/carriers/{f['carrier_id']}/events", content=raw, timeout=5,
                       headers={"Content-Type": "application/json",
                                **tracking_push.signature_headers("aftership", raw, factories.SECRETS[f["carrier_id"]])})
        assert r.status_code == 202, r.text
    order = order_in(api, order_id, shipment_status="delivered")

    # The shop heard of each shipment exactly once, with its tracking number
    notices = eventually(lambda: (n := shop.calls_to("POST", notice_path)) and len(n) >= len(order["fulfilments"]) and n,
                         what="shop notified")
    assert sorted({c.idempotency_key for c in notices}) == sorted(f"{f['id']}:shipped" for f in order["fulfilments"])
    assert sorted(k for k in shop.effects if k.endswith(":shipped")) == sorted(
        f"{f['id']}:shipped" for f in order["fulfilments"])  # one effect per shipment, whatever the retries
    for f in order["fulfilments"]:
        assert any(f["tracking_number"] in json.dumps(c.body) for c in notices)
    eventually(lambda: all(e["state"] == "sent" for e in get_order(api, order_id)["outbox"]), what="outbox sent")
