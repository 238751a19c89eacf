"""An Amazon order end to end: polled from the simulated SP-API, routed, shipped by the fake WMS,
tracked by the carrier in EasyPost's format, and Amazon receives one confirmShipment per package
with the tracking number, exactly once. Amazon's Orders API cannot cancel: that notice is
recorded as unsupported and never sent. Every SP-API call carries a Login with Amazon access
token (x-amz-access-token, exchanged from the refresh token and cached); the poller renews an
expired one, backs off on 429 and reads every NextToken page without losing or doubling an order."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from adapters.outbound import sp_api
from adapters.pollers.amazon import poll
from adapters.seed import load_world
from adapters.simulators import tracking_push
from adapters.simulators.amazon import AmazonSimulator
from tests import factories
from tests.helpers import eventually, get_order, http, order_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]
FIXTURES = Path(__file__).parent.parent / "fixtures"



@pytest.fixture
def amazon(api):
    """A simulated SP-API: the poller reads its orders, the outbox confirms shipments to it."""
    sp_api.forget()  # no access token or learned rate from another test
    with AmazonSimulator() as sim:
        yield sim


def _entry(order_id: str) -> dict:
    """The documented MFN order, recent, for SKUs the world stocks."""
    entry = json.loads((FIXTURES / "channels" / "amazon_mfn_unshipped.json").read_text(encoding="utf-8"))
    entry["order"]["AmazonOrderId"] = order_id
    entry["order"]["LastUpdateDate"] = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for item, sku in zip(entry["items"], ("SKU-A", "SKU-C"), strict=True):
        item["SellerSKU"] = sku
    return entry


def _world(wms, carrier, amazon) -> dict:
    world = factories.world(wms.url, carrier.url)
    world["channels"].append({"id": "amazon", "format": "amazon", "merchant_id": "m1", "api_url": amazon.url,
                              "marketplace_id": "ATVPDKIKX0DER", **amazon.lwa_settings()})
    for c in world["carriers"]:
        c["tracking_format"] = "easypost"  # the carriers speak EasyPost here
    world["carriers"][0]["amazon_code"] = "UPS"  # fastship is on Amazon's carrier list; slowpost is "Other"
    return world


def _delivered(tracking_number: str) -> dict:
    event = copy.deepcopy(json.loads((FIXTURES / "tracking" / "easypost_out_for_delivery.json").read_text()))
    event["id"] = f"evt-{tracking_number}"
    event["result"].update(tracking_code=tracking_number, status="delivered", status_detail="arrived_at_destination")
    return event


def test_polled_amazon_order_is_shipped_tracked_and_confirmed_to_amazon_once(api, worker, wms, carrier, amazon):
    load_world(_world(wms, carrier, amazon))
    entry = _entry("113-0000001-0000001")
    amazon.entries.append(entry)
    assert poll("amazon").accepted == 1
    order_id = http.get(f"{api}/v1/orders", params={"channel": "amazon"}, timeout=5).json()["orders"][0]["order_id"]
    order = eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                       and all(f["status"] == "dispatched" for f in o["fulfilments"]) and o, what="dispatched")

    for f in order["fulfilments"]:
        wms.progress(f["id"])
    order = order_in(api, order_id, status="shipped")
    for f in order["fulfilments"]:
        raw = tracking_push.encode(_delivered(f["tracking_number"]))  # signed as EasyPost signs it, no bearer
        r = httpx.post(f"{api}/v1/carriers/{f['carrier_id']}/events", content=raw, timeout=5,
                       headers={"Content-Type": "application/json",
                                **tracking_push.signature_headers("easypost", raw, factories.SECRETS[f["carrier_id"]])})
        assert r.status_code == 202, r.text
    order = order_in(api, order_id, shipment_status="delivered")

    # Amazon got one confirmShipment per fulfilment, with its tracking number, exactly once
    fulfilments = order["fulfilments"]
    eventually(lambda: all(e["state"] == "sent" for e in get_order(api, order_id)["outbox"]), what="outbox sent")
    calls = amazon.calls_to("POST", "/shipmentConfirmation")
    assert len(calls) == len(fulfilments) and all(c.status == 204 for c in calls)
    assert all(c.path == f"/orders/v0/orders/{entry['order']['AmazonOrderId']}/shipmentConfirmation" for c in calls)
    confirmed = amazon.confirmed(entry["order"]["AmazonOrderId"])
    assert sorted(c["packageDetail"]["trackingNumber"] for c in confirmed) == sorted(f["tracking_number"] for f in fulfilments)
    ids = {i["SellerSKU"]: i["OrderItemId"] for i in entry["items"]}
    for f in fulfilments:
        sent = next(c for c in confirmed if c["packageDetail"]["trackingNumber"] == f["tracking_number"])
        detail = sent["packageDetail"]
        assert sent["marketplaceId"] == "ATVPDKIKX0DER"
        assert sorted((i["orderItemId"], i["quantity"]) for i in detail["orderItems"]) == sorted(
            (ids[l["sku"]], l["quantity"]) for l in f["lines"])
        if f["carrier_id"] == "fastship":
            assert detail["carrierCode"] == "UPS" and "carrierName" not in detail
        else:
            assert (detail["carrierCode"], detail["carrierName"]) == ("Other", f["carrier_id"])
        assert datetime.fromisoformat(detail["shipDate"].replace("Z", "+00:00")) <= datetime.now(timezone.utc)
    # every item shipped once over all packages
    shipped = {}
    for c in confirmed:
        for i in c["packageDetail"]["orderItems"]:
            shipped[i["orderItemId"]] = shipped.get(i["orderItemId"], 0) + i["quantity"]
    assert shipped == {i["OrderItemId"]: i["QuantityOrdered"] for i in entry["items"]}

    # every SP-API call carried the access token Login with Amazon issued, once for all of them
    assert amazon.token_calls == 1 and amazon.refused_tokens == 0
    for call in amazon.calls_to(contains="/orders/v0/"):
        assert call.headers["x-amz-access-token"].startswith("Atza|") and "authorization" not in call.headers
    token_call = amazon.calls_to("POST", "/auth/o2/token")[0]
    assert token_call.body == {"grant_type": "refresh_token", "refresh_token": amazon.refresh_token,
                               "client_id": amazon.client_id, "client_secret": amazon.client_secret}


def test_cancelling_an_amazon_order_records_the_notice_as_unsupported(api, worker, wms, carrier, amazon):
    load_world(_world(wms, carrier, amazon))
    amazon.entries.append(_entry("113-0000002-0000002"))
    assert poll("amazon").accepted == 1
    order_id = http.get(f"{api}/v1/orders", params={"channel": "amazon"}, timeout=5).json()["orders"][0]["order_id"]
    eventually(lambda: get_order(api, order_id)["fulfilments"], what="routed")

    r = http.post(f"{api}/v1/orders/{order_id}/cancel", timeout=5)
    assert r.status_code == 200, r.text
    outbox = get_order(api, order_id)["outbox"]
    cancelled = [e for e in outbox if e["kind"] == "cancelled"]
    assert [e["state"] for e in cancelled] == ["unsupported"] and "SP-API" in cancelled[0]["reason"]
    assert all(e["state"] == "unsupported" for e in outbox)  # the refund it owes: the operator's (no SP-API call)
    order_in(api, order_id, status="cancelled")
    assert amazon.calls_to("POST", "/orders/v0/") == []  # (the LWA token exchange is a POST too)


def test_the_poller_renews_an_expired_token_backs_off_on_429_and_reads_every_page_once(api, worker, wms, carrier,
                                                                                        amazon):
    load_world(_world(wms, carrier, amazon))
    entries = [_entry(f"113-0000003-00000{n:02d}") for n in range(5)]
    for n, entry in enumerate(entries):  # distinct update times, oldest first
        entry["order"]["LastUpdateDate"] = (datetime.now(timezone.utc) - timedelta(minutes=50 - n)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        amazon.entries.append(entry)
    amazon.page_size = 2  # three pages of getOrders, each after the NextToken of the last
    amazon.items_page_size = 1  # and the items of each order on two pages
    # Amazon grants this seller bursts of one: the poller, starting from the documented bursts, is throttled
    amazon.rates = {"getOrders": (20.0, 1), "getOrderItems": (20.0, 1), "confirmShipment": (20.0, 1)}

    first = poll("amazon")
    assert (first.orders, first.accepted, first.duplicates, first.errors, first.pages) == (5, 5, 0, 0, 3)
    assert amazon.throttled.get("getOrderItems", 0) + amazon.throttled.get("getOrders", 0) >= 1  # 429s met, waited out
    assert amazon.token_calls == 1  # one token for every call
    cursors = [c.query["NextToken"] for c in amazon.calls_to("GET") if c.path == "/orders/v0/orders"
               and "NextToken" in c.query and c.status == 200]
    assert len(set(cursors)) == 2  # pages two and three read after their tokens

    # The token expires at Amazon before the router expects: refused once (403), renewed, and the poll goes on
    amazon.expire_tokens()
    again = poll("amazon")  # the window overlaps the last: every order seen again, none doubled
    assert (again.orders, again.accepted, again.duplicates, again.errors) == (5, 0, 5, 0)
    assert amazon.token_calls == 2 and amazon.refused_tokens == 1
    expired = [c for c in amazon.calls_to(contains="/orders/v0/") if c.status == 403]
    assert len(expired) == 1

    stored = http.get(f"{api}/v1/orders", params={"channel": "amazon"}, timeout=5).json()["orders"]
    assert sorted(o["channel_order_id"] for o in stored) == sorted(e["order"]["AmazonOrderId"] for e in entries)
    for row in stored:
        order = get_order(api, row["order_id"])
        assert sum(l["quantity"] for l in order["lines"]) == sum(i["QuantityOrdered"] for i in entries[0]["items"])
