"""Customer self-service end to end (issue 19, item 1): a channel vouches for its customer with a
token signed with the channel's secret; the customer sees only their own orders, cancels before
dispatch, and is refused elsewhere, through the JSON API and the customer page."""
from __future__ import annotations

import re
import time

import httpx
import pytest
from click.testing import CliRunner

import config
from adapters.customer import tokens
from documents import reference
from tests.helpers import eventually, get_order, http

pytestmark = pytest.mark.e2e
SECRETS = {"app": "app-secret-0123456789abcdef", "kiosk": "kiosk-secret-0123456789abcdef"}


@pytest.fixture
def shops(seeded):
    """Two canonical channels, each with its own signing secret."""
    for channel, secret in SECRETS.items():
        reference.upsert("channels", channel, {"format": "canonical", "secret": secret})
    return seeded


def token(channel: str, customer_id: str, *, secret: str | None = None, ttl: int = 600) -> str:
    return tokens.mint(secret or SECRETS[channel], channel, customer_id=customer_id, exp=int(time.time()) + ttl)


def as_customer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


def place(api: str, factories, channel: str, customer_id: str, **extra) -> str:
    body = factories.order([("SKU-A", 1)], **extra)
    body["customer"] = {"id": customer_id, "name": "Ada Lovelace", "email": "ada@example.com"}
    response = http.post(f"{api}/v1/channels/{channel}/orders", json=body)
    assert response.status_code == 202, response.text
    return response.json()["order_id"]


def test_a_customer_sees_only_their_own_orders_and_cancels_one_before_dispatch(api, worker, shops, conserved):
    mine = [place(api, shops, "app", "c-1") for _ in range(2)]
    theirs = place(api, shops, "app", "c-2")
    other_channel = place(api, shops, "kiosk", "c-1")  # the same customer id at another channel
    for order_id in [*mine, theirs, other_channel]:
        eventually(lambda o=order_id: get_order(api, o)["routing"]["state"] == "routed", what="routed")
    me = as_customer(token("app", "c-1"))

    # the list holds c-1's orders at app, and nothing else
    listed = httpx.get(f"{api}/v1/customer/orders", headers=me, timeout=5)
    assert listed.status_code == 200, listed.text
    assert sorted(o["order_id"] for o in listed.json()["orders"]) == sorted(mine)
    one = httpx.get(f"{api}/v1/customer/orders/{mine[0]}", headers=me, timeout=5).json()
    assert one["status"] == "pending_payment" and one["lines"][0]["sku"] == "SKU-A"
    assert one["amounts"]["payable"] and "cancel" in one["allowed_commands"]
    assert not {"timeline", "routing", "outbox", "payments", "raw", "customer"} & set(one)  # only what is declared

    # another customer's order, or another channel's, is not there at all: 404, as no order is
    for order_id in (theirs, other_channel, "O000000000000"):
        for method, path in (("GET", ""), ("POST", "/cancel"), ("POST", "/confirm-receipt")):
            refused = httpx.request(method, f"{api}/v1/customer/orders/{order_id}{path}", headers=me, timeout=5)
            assert refused.status_code == 404, (order_id, path, refused.text)
            assert refused.json()["error"]["message"] == f"unknown order {order_id!r}"
    moved = httpx.patch(f"{api}/v1/customer/orders/{theirs}/shipping-address", headers=me, timeout=5,
                        json={"address": {"country": "US", "city": "Boston", "lines": ["2 Elm St"]}})
    assert moved.status_code == 404
    assert get_order(api, theirs)["status"] == "pending_payment" and get_order(api, theirs)["address"]["city"] != "Boston"

    # cancelling one of their own, before dispatch: done, on the timeline as the customer
    cancelled = httpx.post(f"{api}/v1/customer/orders/{mine[0]}/cancel", headers=me, timeout=5)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["allowed_commands"] == []
    order = get_order(api, mine[0])
    assert order["status"] == "cancelled" and order["cancelled_by"] == "customer:app:c-1"
    assert any(e["actor"] == "customer:app:c-1" and e["event"] == "order.cancel" for e in order["timeline"])
    again = httpx.post(f"{api}/v1/customer/orders/{mine[0]}/cancel", headers=me, timeout=5)
    assert again.status_code == 409 and again.json()["error"]["details"]["current"] == "cancelled"
    assert get_order(api, mine[1])["status"] == "pending_payment"  # the other one untouched

    # the address of their other order changes, as the customer
    changed = httpx.patch(f"{api}/v1/customer/orders/{mine[1]}/shipping-address", headers=me, timeout=5,
                          json={"address": {"country": "US", "region": "MA", "city": "Boston", "lines": ["2 Elm St"]}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["shipping_address"]["city"] == "Boston"
    assert any(e["actor"] == "customer:app:c-1" for e in get_order(api, mine[1])["timeline"]
               if e["event"] == "order.change_address")

    # the same customer id at the other channel sees that channel's order alone
    kiosk = httpx.get(f"{api}/v1/customer/orders", headers=as_customer(token("kiosk", "c-1")), timeout=5).json()
    assert [o["order_id"] for o in kiosk["orders"]] == [other_channel]


def test_once_dispatched_a_customer_may_not_cancel_but_an_order_link_sees_its_one_order(api, worker, shops,
                                                                                       conserved):
    order_id = place(api, shops, "app", "c-3", payment_method="cod")
    eventually(lambda: (o := get_order(api, order_id))["fulfilments"] and o["fulfilments"][0]["status"] == "dispatched",
               what="dispatched")
    me = as_customer(token("app", "c-3"))
    refused = httpx.post(f"{api}/v1/customer/orders/{order_id}/cancel", headers=me, timeout=5)
    assert refused.status_code == 409, refused.text
    assert "cancel" not in refused.json()["error"]["details"]["allowed"]
    assert "change_address" in refused.json()["error"]["details"]["allowed"]
    assert get_order(api, order_id)["status"] == "awaiting_shipment" and not get_order(api, order_id).get("cancel_requested")

    link = tokens.mint(SECRETS["app"], "app", order_id=order_id, exp=int(time.time()) + 7 * 86400)
    other = place(api, shops, "app", "c-3")
    listed = httpx.get(f"{api}/v1/customer/orders", headers=as_customer(link), timeout=5).json()["orders"]
    assert [o["order_id"] for o in listed] == [order_id]
    assert httpx.get(f"{api}/v1/customer/orders/{order_id}", headers=as_customer(link), timeout=5).status_code == 200
    assert httpx.get(f"{api}/v1/customer/orders/{other}", headers=as_customer(link), timeout=5).status_code == 404
    eventually(lambda: get_order(api, other)["routing"]["state"] == "routed", what="routed")


def test_expired_forged_and_foreign_tokens_are_refused(api, shops):
    def status_of(value: str) -> tuple[int, str]:
        response = httpx.get(f"{api}/v1/customer/orders", headers=as_customer(value), timeout=5)
        return response.status_code, response.json()["error"]["code"]

    assert httpx.get(f"{api}/v1/customer/orders", headers=as_customer(token("app", "c-1")), timeout=5).status_code == 200
    expired = tokens.mint(SECRETS["app"], "app", customer_id="c-1", exp=int(time.time()) - 1)
    assert status_of(expired) == (401, "token_expired")
    # signed with the kiosk's secret while naming app: refused, and so is naming an unknown channel
    assert status_of(token("app", "c-1", secret=SECRETS["kiosk"])) == (401, "unauthorized")
    assert status_of(tokens.mint(SECRETS["app"], "nowhere", customer_id="c-1", exp=int(time.time()) + 60)) == \
        (401, "unauthorized")
    # the manual channel has no secret: it cannot vouch for anyone, whatever key was used
    assert status_of(tokens.mint("", "manual", customer_id="c-1", exp=int(time.time()) + 60)) == (401, "unauthorized")
    # tampered claims, a token living longer than a day, junk, an operator's token, none at all
    good = token("app", "c-1")
    forged_claims = tokens.mint("x", "app", customer_id="c-2", exp=int(time.time()) + 60).split(".")[0]
    assert status_of(f"{forged_claims}.{good.split('.')[1]}") == (401, "unauthorized")
    assert status_of(token("app", "c-1", ttl=3 * 86400)) == (401, "unauthorized")
    for junk in ("abc", "a.b", "test-admin", "e30.e30"):
        assert status_of(junk) == (401, "unauthorized")
    assert httpx.get(f"{api}/v1/customer/orders", timeout=5).status_code == 401
    assert httpx.get(f"{api}/v1/orders", headers=as_customer(good), timeout=5).status_code == 401  # not an operator


def test_the_customer_page_shows_their_orders_in_chinese_and_english_and_cancels(api, worker, shops, conserved):
    mine = place(api, shops, "app", "c-9")
    theirs = place(api, shops, "app", "c-8")
    eventually(lambda: get_order(api, mine)["routing"]["state"] == "routed", what="routed")
    value = token("app", "c-9")
    with httpx.Client(base_url=api, timeout=5) as browser:
        assert browser.get("/customer/").status_code == 401  # no link opened yet
        arrived = browser.get("/customer/", params={"token": value})
        assert arrived.status_code == 302 and arrived.headers["location"].endswith("/customer/")
        cookie = arrived.headers["set-cookie"]
        assert "router_customer=" in cookie and "HttpOnly" in cookie and "Path=/customer" in cookie
        for code, title, status_word in (("zh", "我的订单", "待付款"), ("en", "My orders", "Pending payment")):
            browser.get(f"/customer/lang/{code}")
            page = browser.get("/customer/")
            assert page.status_code == 200 and title in page.text and status_word in page.text, page.text[:500]
            assert mine in page.text and theirs not in page.text
            headers = page.headers
            assert "script-src 'self'" in headers["content-security-policy"] and "<script" not in page.text
            assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
            assert headers["cache-control"] == "no-store"
        assert browser.get(f"/customer/orders/{theirs}").status_code == 404
        detail = browser.get(f"/customer/orders/{mine}")
        assert detail.status_code == 200 and "Cancel this order" in detail.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', detail.text).group(1)
        assert browser.post(f"/customer/orders/{mine}/cancel", data={"csrf": "forged"}).status_code == 400
        assert get_order(api, mine)["status"] == "pending_payment"
        done = browser.post(f"/customer/orders/{mine}/cancel", data={"csrf": csrf})
        assert done.status_code == 303 and "result=done" in done.headers["location"]
    order = get_order(api, mine)
    assert order["status"] == "cancelled" and order["cancelled_by"] == "customer:app:c-9"
    expired = tokens.mint(SECRETS["app"], "app", customer_id="c-9", exp=int(time.time()) - 5)
    gone = httpx.get(f"{api}/customer/", params={"token": expired}, timeout=5)
    assert gone.status_code == 401 and "expired" in gone.text
    eventually(lambda: get_order(api, theirs)["routing"]["state"] == "routed", what="routed")


def test_openapi_declares_the_customer_endpoints_with_schemas_and_errors(api, db):
    spec = http.get(f"{api}/openapi.json", timeout=5).json()
    paths = spec["paths"]
    listed = paths["/v1/customer/orders"]["get"]["responses"]
    assert {"200", "401"} <= set(listed)
    cancel = paths["/v1/customer/orders/{order_id}/cancel"]["post"]["responses"]
    assert {"200", "401", "404", "409", "429"} <= set(cancel)
    assert "schema" in str(cancel["200"]) and "schema" in str(cancel["409"])
    address = paths["/v1/customer/orders/{order_id}/shipping-address"]["patch"]
    assert "requestBody" in address and "422" in address["responses"]
    assert "requestBody" in paths["/v1/customer/orders/{order_id}/after-sales"]["post"]
    assert not any(p.startswith("/customer") for p in paths)  # the page is HTML, not API


def test_the_cli_mints_a_token_the_api_takes(mongo_url, db, monkeypatch):
    reference.upsert("channels", "app", {"format": "canonical", "secret": SECRETS["app"]})
    monkeypatch.setenv("ROUTER_MONGO_URL", mongo_url)
    monkeypatch.setenv("ROUTER_MONGO_DB", db.name)
    config.use(None)
    try:
        from adapters.cli import main  # noqa: PLC0415  (imported after the environment is set, as the CLI runs)

        result = CliRunner().invoke(main, ["token", "customer", "--channel", "app", "--customer", "c-1"])
        assert result.exit_code == 0, result.output
        minted = result.output.splitlines()[0]
        claims = tokens.verify(minted, SECRETS.get)
        assert (claims.channel, claims.customer_id) == ("app", "c-1") and claims.exp - time.time() > 3000
        unknown = CliRunner().invoke(main, ["token", "customer", "--channel", "manual", "--customer", "c-1"])
        assert unknown.exit_code == 1 and "no signing secret" in unknown.output
    finally:
        config.use(None)
    from documents.connection import connect  # noqa: PLC0415  (back to this test's database, as the CLI moved it)

    connect(mongo_url, db.name)
