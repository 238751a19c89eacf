"""Staff enter a phone order through the console form (issue 19, item 4) in headless Chromium, over
the real pieces: the SKU search (static/intake.js) gives price and available stock, the form posts
through the API on the manual channel, and the order is followed to dispatched. A refused form
shows the API's own field errors with what was typed kept. The risk page adds a blacklist entry."""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import api_get, login, shot
from tests.helpers import eventually

pytestmark = pytest.mark.browser


def fill_customer(page, *, country: str = "US") -> None:
    page.fill("input[name=customer_id]", "phone-cust-1")
    page.fill("input[name=customer_name]", "Grace Hopper")
    page.fill("input[name=customer_phone]", "+1 555 0199 123")
    page.fill("input[name=country]", country)
    page.fill("input[name=region]", "NY")
    page.fill("input[name=city]", "New York")
    page.fill("input[name=postcode]", "10001")
    page.fill("input[name=line1]", "5 Harbor Rd")


def test_phone_order_entered_in_the_form_is_followed_to_dispatched(page, api, worker, seeded, wms):
    login(page, api)
    page.click("a[data-nav=new-order]")
    page.wait_for_selector("form#new-order")
    page.fill("input[data-sku-search]", "sku-a")  # the search, as the operator types
    row = page.locator("#sku-results tr[data-sku='SKU-A']")
    row.wait_for()
    assert row.locator("td").nth(3).inner_text() == "10.00"
    assert row.locator("[data-available]").inner_text() == "15"  # 10 east + 5 west
    row.locator("button.use-sku").click()
    assert page.input_value("input[name=sku_0]") == "SKU-A" and page.input_value("input[name=price_0]") == "10.00"
    page.fill("input[name=qty_0]", "3")
    fill_customer(page)
    page.fill("input[name=discount]", "5.00")
    page.select_option("select[name=payment_method]", "cod")
    shot(page, "phone-order-form")
    page.click("#submit-order")
    page.wait_for_selector("#order-id")
    order_id = page.inner_text("#order-id").strip()
    order = api_get(api, f"/v1/orders/{order_id}")
    assert order["channel"] == "manual" and order["customer"]["phone"] == "+1 555 0199 123"
    assert order["payment_method"] == "cod" and order["lines"][0]["quantity"] == 3
    assert order["amounts"]["discount"] == "5.00"

    dispatched = eventually(lambda: (o := api_get(api, f"/v1/orders/{order_id}"))["fulfilments"]
                            and all(f["status"] == "dispatched" for f in o["fulfilments"]) and o,
                            what="dispatched")
    assert [f["id"] for f in dispatched["fulfilments"]] == list(wms.delivery_orders)
    page.reload()
    assert "Sent to warehouse" in page.inner_text("[data-fulfilment]")
    assert page.inner_text("[data-placed]").endswith(" UTC")  # the console's fixes: zone, places
    assert page.locator("[data-amount=discount]").inner_text().strip() == "5.00 USD"
    assert page.locator("[data-amount=freight]").inner_text().strip().endswith(".00 USD")
    shot(page, "phone-order-dispatched")
    page.goto(f"{api}/console/orders")
    row = page.locator(f"table#orders tr[data-order='{order_id}']")
    assert row.locator("[data-customer]").inner_text().startswith("Grace Hopper")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row.inner_text())


def test_refused_form_shows_the_apis_field_errors_and_keeps_the_input(page, api, seeded):
    login(page, api)
    page.goto(f"{api}/console/orders/new")
    page.fill("input[name=sku_0]", "SKU-A")
    page.fill("input[name=qty_0]", "two")
    fill_customer(page, country="usa")
    page.click("#submit-order")
    page.wait_for_selector("#order-errors")
    errors = page.inner_text("#order-errors")
    assert "shipping_address.country" in errors and "ISO 3166-1" in errors
    assert "lines.0.quantity" in errors and "Not a valid integer" in errors
    assert page.input_value("input[name=customer_name]") == "Grace Hopper"
    assert page.input_value("input[name=country]") == "usa"
    assert api_get(api, "/v1/orders", channel="manual")["orders"] == []


def test_admin_blacklists_a_phone_on_the_risk_page_and_a_phone_order_from_it_is_held(page, api, worker, seeded):
    login(page, api, role="admin")
    page.click("a[data-nav=risk]")
    page.wait_for_selector("#blacklist-add")
    page.select_option("#blacklist-add select[name=kind]", "phones")
    page.fill("#blacklist-add input[name=value]", "+1 555 0100 999")
    page.fill("#blacklist-add input[name=reason]", "stolen cards")
    page.click("#blacklist-add button[type=submit]")
    page.wait_for_selector(".flash.ok")
    row = page.locator("#blacklist-phones tr[data-entry]")
    assert row.count() == 1 and "stolen cards" in row.inner_text() and "admin-user" in row.inner_text()
    rules = api_get(api, "/v1/risk/rules")["rules"]
    assert rules["blacklist"]["phones"][0]["added_by"] == "admin-user"
    assert re.match(r"console-\d{8}T", rules["version"])

    page.goto(f"{api}/console/orders/new")  # an order taken by phone from that number
    page.fill("input[name=sku_0]", "SKU-A")
    fill_customer(page)
    page.fill("input[name=customer_phone]", "15550100999")
    page.click("#submit-order")
    page.wait_for_selector("#order-id")
    order_id = page.inner_text("#order-id").strip()
    eventually(lambda: api_get(api, f"/v1/orders/{order_id}")["status"] == "on_hold", what="held")
    page.reload()
    assert "blacklist.phones[0]" in page.inner_text("main") and "stolen cards" in page.inner_text("main")
    shot(page, "phone-order-held-by-risk-rule")
