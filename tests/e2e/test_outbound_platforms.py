"""Outbound calls in each platform's own shape, against simulators that enforce the platform's
authentication and refuse what it refuses:

- ShipHero: the delivery order is an ``order_create`` over GraphQL (bearer access token, renewed
  from the refresh token when it expired), found again by ``partner_order_id`` when the answer
  was lost; the warehouse ships it by its signed ``Shipment Update`` webhook and the parcel is
  tracked to delivered; an address change is ``order_update``, a cancel ``order_cancel``.
- EasyPost: the carrier is booked by creating a shipment (weight in ounces) and buying the
  cheapest rate of the carrier; the label URL and tracking code are kept, a lost answer to the
  purchase buys nothing twice, and EasyPost's tracker webhooks deliver the parcel.
- 17TRACK: the shipped parcel is registered (``17token``), a lost answer registers nothing twice,
  and its push webhooks deliver it.
- Shopify: the shipment goes through the order's fulfillment orders with tracking info, and
  survives a 429 (``Retry-After``) with one fulfilment made.
- WooCommerce: the note is posted with OAuth 1.0a (plain http), once, and a replayed signed
  request is refused.
"""
from __future__ import annotations

import json

import httpx
import pytest

from adapters.seed import load_world
from adapters.simulators.easypost import EasyPostSimulator
from adapters.simulators.seventeen_track import SeventeenTrackSimulator
from adapters.simulators.shiphero import ShipHeroSimulator
from tests import factories
from tests.e2e.test_channels import CASES, SECRET, _fixture
from tests.helpers import eventually, get_order, http, order_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]

ACCESS, REFRESH, HOOK_SECRET = "sh-access-0123456789", "sh-refresh-0123456789", "sh-webhook-secret-0123456789"
EASYPOST_KEY, EASYPOST_HOOKS = "EZTK0123456789abcdef0123456789", "ep-webhook-secret-0123456789"
TRACK17_KEY, TRACK17_SECURITY = "17token-0123456789abcdef", "17-security-key-0123456789"


def _place(api: str, lines=(("SKU-A", 2),), **extra) -> str:
    created = http.post(f"{api}/v1/channels/manual/orders", json=factories.order(lines=lines, paid=True, **extra),
                        timeout=5)
    assert created.status_code == 202, created.text
    return created.json()["order_id"]


def _dispatched(api: str, order_id: str) -> dict:
    return eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                      and all(f["status"] == "dispatched" for f in o["fulfilments"]) and o, what="dispatched")


# --- ShipHero ----------------------------------------------------------------------------------

@pytest.fixture
def shiphero(api):
    with ShipHeroSimulator(api, "WH-EAST", access_token=ACCESS, refresh_token=REFRESH,
                           webhook_secret=HOOK_SECRET) as sim:
        yield sim


def _shiphero_world(wms, carrier, shiphero) -> dict:
    world = factories.world(wms.url, carrier.url)
    east = next(w for w in world["warehouses"] if w["id"] == "WH-EAST")
    east.update(wms_format="shiphero", wms_url=shiphero.url, wms_token=ACCESS, refresh_token=REFRESH,
                secret=HOOK_SECRET)
    load_world(world)
    return world


def test_a_shiphero_order_is_created_over_graphql_shipped_by_its_webhook_and_delivered(
        api, worker, wms, carrier, shiphero):
    _shiphero_world(wms, carrier, shiphero)
    shiphero.expire_token()  # the access token in the seed has expired: the refresh token renews it
    shiphero.drop_creates = 1  # and the answer to order_create is lost once
    order_id = _place(api)
    f = _dispatched(api, order_id)["fulfilments"][0]
    assert f["warehouse_id"] == "WH-EAST"

    # One ShipHero order, made over GraphQL under the fulfilment id, found again after the lost answer
    assert shiphero.created == 1 and shiphero.refreshes == 1
    made = shiphero.by_partner_id(f["id"])
    assert made is not None and f["wms_order_id"] == made.id
    assert made.data["order_number"] == f["id"] and made.data["shipping_lines"]["carrier"] == f["carrier_id"]
    assert [(i["sku"], i["quantity"], i["partner_line_item_id"]) for i in made.data["line_items"]] == [("SKU-A", 2, "1")]
    assert made.data["shipping_address"]["city"] == "New York" and made.data["shipping_address"]["state_code"] == "NY"
    graphql = shiphero.calls_to("POST", "/graphql")
    assert {c.status for c in graphql} >= {401, 200}  # the expired token was refused, then the new one taken
    assert all(c.headers["authorization"].startswith("Bearer ") for c in graphql)

    # The warehouse ships it: its signed Shipment Update webhook, then the carrier's scans to delivered
    number = shiphero.ship(f["id"], f["tracking_number"])  # in one box, under the waybill the router booked
    shipped = order_in(api, order_id, status="shipped")["fulfilments"][0]
    assert shipped["status"] == "shipped"
    sent = eventually(lambda: [s for s in shiphero.callbacks.sent if s.status == 202], what="webhook accepted")[0]
    assert "authorization" not in {k.lower() for k in sent.headers}
    again = httpx.post(sent.url, content=json.dumps(sent.body, separators=(",", ":")).encode(),
                       headers={"Content-Type": "application/json", **sent.headers}, timeout=5)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    eventually(lambda: number in carrier.trackers, what="the parcel tracked at its carrier")
    carrier.track(number)
    order = order_in(api, order_id, shipment_status="delivered")
    assert order["fulfilments"][0]["status"] == "delivered"
    assert shiphero.created == 1


def test_a_shiphero_order_gets_the_new_address_and_is_cancelled_on_intercept(api, worker, wms, carrier, shiphero):
    _shiphero_world(wms, carrier, shiphero)
    order_id = _place(api)
    f = _dispatched(api, order_id)["fulfilments"][0]
    address = {"name": "Grace Hopper", "country": "US", "region": "NY", "city": "Brooklyn", "postcode": "11201",
               "lines": ["2 Side St", "Apt 3"], "lat": 40.69, "lon": -73.99}
    changed = http.patch(f"{api}/v1/orders/{order_id}/shipping-address", json={"address": address}, timeout=5)
    assert changed.status_code == 200, changed.text
    made = shiphero.by_partner_id(f["id"])
    update = eventually(lambda: made.updates and made.updates[-1], what="order_update sent")
    assert update["shipping_address"] == {
        "first_name": "Grace", "last_name": "Hopper", "address1": "2 Side St", "address2": "Apt 3",
        "city": "Brooklyn", "state": "NY", "state_code": "NY", "zip": "11201", "country": "US",
        "country_code": "US", "email": "", "phone": ""}

    cancelled = http.post(f"{api}/v1/orders/{order_id}/cancel", json={"reason": "customer asked"}, timeout=5)
    assert cancelled.status_code in (200, 202), cancelled.text
    order = order_in(api, order_id, status="cancelled")
    assert made.fulfillment_status == "canceled" and order["fulfilments"][0]["status"] == "cancelled"
    assert shiphero.created == 1


# --- EasyPost ----------------------------------------------------------------------------------

def test_a_carrier_is_booked_through_easypost_with_its_label_and_tracked_to_delivered(api, worker, wms, carrier):
    with EasyPostSimulator(api, "fastship", api_keys={EASYPOST_KEY}, webhook_secret=EASYPOST_HOOKS) as easypost:
        world = factories.world(wms.url, carrier.url)
        fast = next(c for c in world["carriers"] if c["id"] == "fastship")
        fast.update(booking_format="easypost", api_url=easypost.url, api_token=EASYPOST_KEY, booking_carrier="USPS",
                    tracking_format="easypost", secret=EASYPOST_HOOKS, name="Fastship (USPS via EasyPost)")
        load_world(world)
        easypost.drop_after_success_next(1, "/buy", "POST")  # the purchase lands, its answer is lost
        order_id = _place(api)
        f = _dispatched(api, order_id)["fulfilments"][0]
        assert f["carrier_id"] == "fastship"

        # One shipment, bought once, at the cheapest USPS rate; its label and tracking code kept
        assert easypost.purchases == 1 and len(easypost.shipments) == 1
        shipment = next(iter(easypost.shipments.values())).body
        assert shipment["reference"] == f["id"]
        assert shipment["parcel"]["weight"] == 35.3  # 2 x 500 g in ounces, as EasyPost weighs
        assert shipment["to_address"]["street1"] == "1 Main St" and shipment["to_address"]["state"] == "NY"
        usps = [r for r in shipment["rates"] if r["carrier"] == "USPS"]
        assert shipment["selected_rate"]["id"] == min(usps, key=lambda r: float(r["rate"]))["id"]
        assert f["tracking_number"] == shipment["tracking_code"]
        assert f["label_url"] == shipment["postage_label"]["label_url"]
        assert wms.delivery_orders[f["id"]].request["label_url"] == f["label_url"]  # for the warehouse to print
        assert httpx.get(f["label_url"], timeout=5).status_code == 200
        assert all(c.headers["authorization"].startswith("Basic ") for c in easypost.calls_to(contains="/v2/"))

        # Shipped: EasyPost already tracks what it sold (no second tracker), its webhooks deliver it
        wms.progress(f["id"])
        order_in(api, order_id, status="shipped")
        eventually(lambda: easypost.calls_to("GET", "/v2/trackers"), what="tracker looked up")
        assert len(easypost.trackers) == 1 and not easypost.calls_to("POST", "/v2/trackers")
        easypost.track(f["tracking_number"])
        order = order_in(api, order_id, shipment_status="delivered")
        assert order["fulfilments"][0]["status"] == "delivered"


# --- 17TRACK -----------------------------------------------------------------------------------

def test_a_parcel_is_registered_at_17track_and_pushed_to_delivered(api, worker, wms, carrier):
    with SeventeenTrackSimulator(api, "fastship", api_key=TRACK17_KEY, security_key=TRACK17_SECURITY) as track17:
        world = factories.world(wms.url, carrier.url)
        for c in world["carriers"]:
            c.update(tracking_format="17track", tracking_api_url=track17.url, tracking_api_token=TRACK17_KEY,
                     secret=TRACK17_SECURITY)
        load_world(world)
        track17.drop_after_success_next(1, "/register", "POST")  # registered, the answer lost
        order_id = _place(api)
        f = _dispatched(api, order_id)["fulfilments"][0]
        wms.progress(f["id"])
        order_in(api, order_id, status="shipped")
        number = f["tracking_number"]
        entry = eventually(lambda: track17.registered.get(number), what="registered at 17TRACK")
        assert entry["tag"] == f["id"]
        calls = eventually(lambda: [c for c in track17.calls_to("POST", "/register") if c.status == 200],
                           what="the retry answered")
        assert all(c.headers["17token"] == TRACK17_KEY and c.body == [{"number": number, "tag": f["id"]}]
                   for c in calls)
        assert list(track17.registered) == [number]  # once, whatever the retries

        track17.push(number)
        order = order_in(api, order_id, shipment_status="delivered")
        assert order["fulfilments"][0]["status"] == "delivered"


# --- Shopify and WooCommerce -------------------------------------------------------------------

def _native_world(fmt: str, wms, carrier, shop) -> None:
    world = factories.world(wms.url, carrier.url)
    world["channels"].append({"id": fmt, "format": fmt, "merchant_id": "m1", "secret": SECRET,
                              "api_url": shop.url, **factories.SHOP_CREDENTIALS})
    load_world(world)


def _push(api: str, fmt: str, body: dict) -> str:
    _, _, sign, _ = CASES[fmt]
    raw = json.dumps(body, ensure_ascii=False).encode()
    r = http.post(f"{api}/v1/channels/{fmt}/orders", content=raw, headers={**sign(raw), "Content-Type": "application/json"},
                  timeout=5)
    assert r.status_code == 202, r.text
    return r.json()["order_id"]


def test_a_shopify_shipment_goes_through_fulfillment_orders_and_survives_a_429(api, worker, wms, carrier):
    with factories.shop_simulator() as shop:
        shop.bucket_size = 10  # a small bucket, so that backing off shows quickly
        _native_world("shopify", wms, carrier, shop)
        fixture, adapt, _, _ = CASES["shopify"]
        body = adapt(_fixture("channels", fixture))
        shop.add_order(body)
        order_id = _push(api, "shopify", body)
        order = _dispatched(api, order_id)
        shop.fill_bucket()  # the shop's bucket is full when the notices go out
        for f in order["fulfilments"]:
            wms.progress(f["id"])
        order = order_in(api, order_id, status="shipped")
        eventually(lambda: all(e["state"] == "sent" for e in get_order(api, order_id)["outbox"]), what="outbox sent")

        oid = str(body["id"])
        assert any(c.status == 429 for c in shop.calls)  # refused while full, then waited for
        made = shop.fulfillments[oid]
        assert sorted(m["tracking_number"] for m in made) == sorted(f["tracking_number"] for f in order["fulfilments"])
        fulfilled = sorted((i["id"], i["quantity"]) for m in made for i in m["line_items"])
        assert fulfilled == sorted((i["id"], i["quantity"]) for i in body["line_items"])  # every unit, once
        assert all(fo["status"] == "closed" for fo in shop.fulfillment_orders[oid])
        posted = shop.calls_to("POST", "/admin/api/2024-07/fulfillments.json")
        request = next(c.body["fulfillment"] for c in posted if c.status == 201)
        assert request["notify_customer"] is True and request["tracking_info"]["company"]
        assert request["line_items_by_fulfillment_order"][0]["fulfillment_order_id"] == \
            shop.fulfillment_orders[oid][0]["id"]
        assert all(c.headers.get("x-shopify-access-token") == factories.SHOP_CREDENTIALS["api_token"]
                   and "authorization" not in c.headers for c in shop.calls)


def test_a_woocommerce_notice_is_sent_with_oauth_once_and_a_replay_is_refused(api, worker, wms, carrier, shop):
    _native_world("woocommerce", wms, carrier, shop)
    fixture, adapt, _, _ = CASES["woocommerce"]
    body = adapt(_fixture("channels", fixture))
    order_id = _push(api, "woocommerce", body)
    order = _dispatched(api, order_id)
    shop.drop_after_success_next(1, "/notes", "POST")  # the first note lands, its answer is lost
    for f in order["fulfilments"]:
        wms.progress(f["id"])
    order_in(api, order_id, status="shipped")
    eventually(lambda: all(e["state"] == "sent" for e in get_order(api, order_id)["outbox"]), what="outbox sent")

    oid = str(body["id"])
    notes = shop.notes[oid]
    numbers = [f["tracking_number"] for f in get_order(api, order_id)["fulfilments"]]
    assert all(sum(n in x["note"] for x in notes) == 1 for n in numbers)
    assert len(notes) == len(numbers)  # one note per shipment, whatever the retries
    assert shop.statuses[oid] == "completed"
    writes = [c for c in shop.calls if c.path.startswith("/wp-json/")]
    assert writes and all(c.query.get("oauth_signature_method") == "HMAC-SHA256" and "authorization" not in c.headers
                          for c in writes)

    # The same signed request again (same nonce) is refused, as WooCommerce refuses a used nonce
    note = next(c for c in writes if c.method == "POST" and c.path.endswith("/notes"))
    replay = httpx.post(f"{shop.url}{note.path}", params=note.query, json=note.body, timeout=5)
    assert replay.status_code == 401 and "nonce" in replay.json()["message"]
    assert len(shop.notes[oid]) == len(numbers)
