"""The platform simulators refuse what the platforms refuse, over real loopback sockets: Shopify's
token and leaky bucket, WooCommerce's OAuth 1.0a, ShipHero's bearer token, refresh and input
types, EasyPost's Basic auth and shapes, 17TRACK's ``17token`` and repeated registrations."""
from __future__ import annotations

import time

import httpx
import pytest

from adapters.outbound.channel_woocommerce import oauth_params
from adapters.simulators.channel import ChannelSimulator
from adapters.simulators.easypost import EasyPostSimulator
from adapters.simulators.seventeen_track import SeventeenTrackSimulator
from adapters.simulators.shiphero import ShipHeroSimulator

pytestmark = pytest.mark.integration

ORDER = {"id": 450789469, "line_items": [{"id": 466157049, "sku": "A", "quantity": 2, "variant_id": 1},
                                         {"id": 518995019, "sku": "B", "quantity": 1, "variant_id": 2}]}


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as c:
        yield c


def test_shopify_wants_its_access_token_and_refuses_over_the_bucket(client):
    with ChannelSimulator(shopify_tokens={"shpat_1"}, bucket_size=3, leak_rate=2.0) as shop:
        shop.add_order(ORDER)
        url = f"{shop.url}/admin/api/2024-07/orders/450789469/fulfillment_orders.json"
        assert client.get(url, headers={"Authorization": "Bearer shpat_1"}).status_code == 401
        assert client.get(url, headers={"X-Shopify-Access-Token": "wrong"}).status_code == 401
        ok = client.get(url, headers={"X-Shopify-Access-Token": "shpat_1"})
        assert ok.status_code == 200 and ok.headers["X-Shopify-Shop-Api-Call-Limit"] == "1/3"
        assert ok.json()["fulfillment_orders"][0]["status"] == "open"
        shop.fill_bucket()
        over = client.get(url, headers={"X-Shopify-Access-Token": "shpat_1"})
        assert over.status_code == 429 and float(over.headers["Retry-After"]) > 0
        time.sleep(float(over.headers["Retry-After"]) + 0.05)
        assert client.get(url, headers={"X-Shopify-Access-Token": "shpat_1"}).status_code == 200


def test_shopify_fulfils_each_fulfillment_order_line_once(client):
    with ChannelSimulator(shopify_tokens={"shpat_1"}) as shop:
        fo = shop.add_order(ORDER)[0]
        auth = {"X-Shopify-Access-Token": "shpat_1"}
        body = {"fulfillment": {"line_items_by_fulfillment_order": [{
            "fulfillment_order_id": fo["id"], "fulfillment_order_line_items": [{"id": fo["line_items"][0]["id"],
                                                                                "quantity": 2}]}],
            "tracking_info": {"number": "MS1562678", "company": "Jack Black's Pack, Stack and Track"},
            "notify_customer": True}}
        legacy = client.post(f"{shop.url}/admin/api/2024-07/orders/450789469/fulfillments.json", json=body,
                             headers=auth)
        assert legacy.status_code == 404
        made = client.post(f"{shop.url}/admin/api/2024-07/fulfillments.json", json=body, headers=auth)
        assert made.status_code == 201 and made.json()["fulfillment"]["tracking_number"] == "MS1562678"
        again = client.post(f"{shop.url}/admin/api/2024-07/fulfillments.json", json=body, headers=auth)
        assert again.status_code == 422  # nothing of that line is left to fulfil
        listed = client.get(f"{shop.url}/admin/api/2024-07/orders/450789469/fulfillments.json", headers=auth)
        assert [f["tracking_number"] for f in listed.json()["fulfillments"]] == ["MS1562678"]
        assert fo["status"] == "open"  # line B is still to ship


def test_woocommerce_takes_a_valid_oauth_signature_once_and_nothing_else(client):
    with ChannelSimulator(woocommerce_keys={"ck_1": "cs_1"}) as shop:
        url = f"{shop.url}/wp-json/wc/v3/orders/7/notes"
        note = {"note": "Shipped", "customer_note": True}
        assert client.post(url, json=note, auth=("ck_1", "cs_1")).status_code == 401  # Basic is for https only
        signed = oauth_params("POST", url, "ck_1", "cs_1")
        forged = {**signed, "oauth_signature": signed["oauth_signature"][:-4] + "AAA="}
        assert "does not match" in client.post(url, json=note, params=forged).json()["message"]
        stale = oauth_params("POST", url, "ck_1", "cs_1", timestamp=int(time.time()) - 16 * 60)
        assert client.post(url, json=note, params=stale).json()["message"] == "Invalid timestamp."
        assert client.post(url, json=note, params=oauth_params("POST", url, "ck_9", "cs_1")).status_code == 401
        assert client.post(url, json=note, params=signed).status_code == 201
        replay = client.post(url, json=note, params=signed)
        assert replay.status_code == 401 and "nonce" in replay.json()["message"]
        listed = client.get(url, params=oauth_params("GET", url, "ck_1", "cs_1"))
        assert [n["note"] for n in listed.json()] == ["Shipped"]


def test_shiphero_wants_a_live_bearer_token_and_checks_the_input_types(client):
    with ShipHeroSimulator(None, "WH-1", access_token="a1", refresh_token="r1", webhook_secret="s") as sh:
        url = f"{sh.url}/graphql"
        create = "mutation create($data: CreateOrderInput!) { order_create(data: $data) { order { id } } }"
        data = {"order_number": "F1", "partner_order_id": "F1", "line_items": [
            {"sku": "A", "partner_line_item_id": "1", "quantity": 1, "price": "0.00"}]}
        assert client.post(url, json={"query": create, "variables": {"data": data}}).status_code == 401
        auth = {"Authorization": "Bearer a1"}
        wrong = client.post(url, json={"query": create, "variables": {"data": {**data, "colour": "red"}}},
                            headers=auth).json()
        assert wrong["data"] is None and '"colour" is not defined' in wrong["errors"][0]["message"]
        bad_qty = {**data, "line_items": [{**data["line_items"][0], "quantity": "1"}]}
        assert "Int cannot represent" in client.post(url, json={"query": create, "variables": {"data": bad_qty}},
                                                     headers=auth).json()["errors"][0]["message"]
        made = client.post(url, json={"query": create, "variables": {"data": data}}, headers=auth).json()
        assert made["data"]["order_create"]["order"]["partner_order_id"] == "F1" and sh.created == 1
        sh.expire_token()
        expired = client.post(url, json={"query": create, "variables": {"data": data}}, headers=auth)
        assert expired.status_code == 401 and sh.created == 1
        assert client.post(f"{sh.url}/auth/refresh", json={"refresh_token": "nope"}).status_code == 401
        fresh = client.post(f"{sh.url}/auth/refresh", json={"refresh_token": "r1"}).json()
        assert fresh["token_type"] == "Bearer" and fresh["expires_in"] > 0
        found = client.post(url, headers={"Authorization": f"Bearer {fresh['access_token']}"}, json={
            "query": "query find($p: String) { orders(partner_order_id: $p) { data { edges { node { id } } } } }",
            "variables": {"partner_order_id": "F1"}}).json()
        assert len(found["data"]["orders"]["data"]["edges"]) == 1


def test_easypost_wants_its_api_key_a_weight_and_buys_once(client):
    with EasyPostSimulator(None, "k1", api_keys={"EZTK1"}, webhook_secret="s") as ep:
        shipment = {"shipment": {"reference": "F1", "to_address": {"street1": "179 N Harbor Dr", "country": "US"},
                                 "from_address": {"country": "US", "city": "San Francisco"}, "parcel": {"weight": 65.9}}}
        assert client.post(f"{ep.url}/v2/shipments", json=shipment).status_code == 401
        assert client.post(f"{ep.url}/v2/shipments", json=shipment, auth=("wrong", "")).status_code == 401
        weightless = {"shipment": {**shipment["shipment"], "parcel": {"length": 20.2}}}
        assert client.post(f"{ep.url}/v2/shipments", json=weightless, auth=("EZTK1", "")).status_code == 422
        made = client.post(f"{ep.url}/v2/shipments", json=shipment, auth=("EZTK1", "")).json()
        by_reference = client.get(f"{ep.url}/v2/shipments/F1", auth=("EZTK1", "")).json()
        assert by_reference["id"] == made["id"] and made["rates"]
        rate = {"rate": {"id": made["rates"][0]["id"]}}
        bought = client.post(f"{ep.url}/v2/shipments/{made['id']}/buy", json=rate, auth=("EZTK1", ""))
        assert bought.status_code == 200 and bought.json()["postage_label"]["label_url"]
        again = client.post(f"{ep.url}/v2/shipments/{made['id']}/buy", json=rate, auth=("EZTK1", ""))
        assert again.status_code == 422 and ep.purchases == 1


def test_17track_wants_its_17token_and_registers_a_number_once(client):
    with SeventeenTrackSimulator(None, "k1", api_key="t1", security_key="s") as track:
        url = f"{track.url}/track/v2.2/register"
        assert client.post(url, json=[{"number": "RR123456789CN"}]).status_code == 401
        first = client.post(url, json=[{"number": "RR123456789CN", "tag": "F1"}], headers={"17token": "t1"}).json()
        assert first["code"] == 0 and first["data"]["accepted"][0]["number"] == "RR123456789CN"
        again = client.post(url, json=[{"number": "RR123456789CN"}, {"number": "x"}], headers={"17token": "t1"}).json()
        assert [r["error"]["code"] for r in again["data"]["rejected"]] == [-18019901, -18010012]
        assert client.post(url, json={"number": "RR123456789CN"}, headers={"17token": "t1"}).json()["code"] != 0
