"""The operations console in headless Chromium, over the real pieces: HTTP in, RabbitMQ, a worker,
the wire server, simulated WMS and carriers. Screenshots go to tests/artifacts/."""
from __future__ import annotations

import re

import pytest

from documents import orders as order_docs
from documents.codec import to_bson
from tests.browser.conftest import api_get, login, push_order, routed, shot
from tests.helpers import eventually

pytestmark = pytest.mark.browser


def test_operator_filters_orders_opens_one_and_cancels_it(page, api, worker, seeded):
    wanted = push_order(api, seeded.order([("SKU-A", 2)]))
    other = push_order(api, seeded.order([("SKU-C", 1)]))
    routed(api, wanted), routed(api, other)

    login(page, api)
    page.fill("input[name=sku]", "SKU-A")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"sku=SKU-A"))
    listed = page.locator("table#orders tbody tr[data-order]")
    assert listed.count() == 1 and listed.first.get_attribute("data-order") == wanted
    shot(page, "orders-filtered")

    page.click(f"a.order-link:text('{wanted}')")
    page.wait_for_selector("#order-id")
    assert page.inner_text("#routing").count("WH-EAST") >= 1  # why this warehouse
    assert page.locator("[data-amount=payable]").inner_text().strip() == "20.00 USD"
    page.click("#order-actions button.danger")
    page.wait_for_selector(".flash.ok")
    assert "Cancelled" in page.inner_text("#order-statuses")
    shot(page, "order-cancelled")
    assert api_get(api, f"/v1/orders/{wanted}")["status"] == "cancelled"
    assert api_get(api, "/v1/stock", sku="SKU-A", warehouse="WH-EAST")["stock"][0]["reserved"] == 0


def test_bulk_cancel_cancels_every_selected_order(page, api, worker, seeded):
    ids = [push_order(api, seeded.order([("SKU-A", 1)])) for _ in range(2)]
    for order_id in ids:
        routed(api, order_id)
    login(page, api)
    for order_id in ids:
        page.check(f"input[name=ids][value='{order_id}']")
    page.click("#bulk button[value=cancel]")
    page.wait_for_selector(".flash.ok")
    assert page.inner_text(".flash.ok").startswith("2 ✓")
    assert {api_get(api, f"/v1/orders/{i}")["status"] for i in ids} == {"cancelled"}


def test_failed_dispatch_is_retried_from_the_exceptions_page(page, api, worker, seeded, wms):
    wms.fail_next(1, status=422)  # a refusal: no automatic retry, the fulfilment waits for an operator
    order_id = push_order(api, seeded.order([("SKU-C", 1)], payment_method="cod"))
    order = eventually(lambda: (o := api_get(api, f"/v1/orders/{order_id}"))["fulfilments"]
                       and o["fulfilments"][0]["status"] == "dispatch_failed" and o, what="dispatch_failed")
    fid = order["fulfilments"][0]["id"]

    login(page, api)
    page.click("a[data-nav=exceptions]")
    row = page.locator(f"#failed-dispatches tr[data-fulfilment='{fid}']")
    assert "Dispatch failed" in row.inner_text()
    shot(page, "exceptions-failed-dispatch")
    row.locator("button").click()
    page.wait_for_selector(".flash.ok")
    eventually(lambda: api_get(api, f"/v1/orders/{order_id}")["fulfilments"][0]["status"] == "dispatched",
               what="dispatched after retry")
    page.goto(f"{api}/console/orders/{order_id}")
    assert "Sent to warehouse" in page.inner_text(f"[data-fulfilment='{fid}']")
    assert list(wms.delivery_orders) == [fid]


def test_language_switch_shows_chinese_status_words(page, api, worker, seeded):
    routed(api, push_order(api, seeded.order([("SKU-A", 1)])))
    login(page, api)
    page.click("a[data-lang=zh]")
    page.wait_for_selector("a[data-lang=zh].active")
    tabs = page.inner_text("nav.tabs")
    for word in ("待付款", "待发货", "已发货", "已完成", "已取消", "交易关闭", "售后中"):
        assert word in tabs
    assert "待付款" in page.inner_text("table#orders")
    shot(page, "orders-zh")
    page.click("a[data-lang=en]")
    page.wait_for_selector("a[data-lang=en].active")
    assert "Pending payment" in page.inner_text("nav.tabs")


def test_viewer_sees_orders_but_no_command_buttons(page, api, worker, seeded):
    order_id = push_order(api, seeded.order([("SKU-A", 1)]))
    routed(api, order_id)
    login(page, api, role="viewer")
    page.goto(f"{api}/console/orders/{order_id}")
    assert page.locator("#order-actions button").count() == 0
    page.goto(f"{api}/console/orders")
    assert page.locator("#bulk button[value=cancel]").count() == 0
    assert page.locator("#bulk button[value=export]").count() == 1


def test_bad_token_is_refused_at_login(page, api, db):
    page.goto(f"{api}/console/login")
    page.fill("input[name=token]", "not-a-token")
    page.click("button[type=submit]")
    page.wait_for_selector(".flash.error")
    assert "/console/login" in page.url


def test_reports_page_draws_its_charts_for_the_chosen_range(page, api, db):
    from tests.integration.test_reports import generate_orders

    order_docs.collection().insert_many(to_bson(generate_orders(300)))
    login(page, api)
    page.click("a[data-nav=reports]")
    page.fill("input[name=from]", "2024-03-01")
    page.fill("input[name=to]", "2024-04-29")
    page.click("#report-range button[type=submit]")
    page.wait_for_url(re.compile(r"from=2024-03-01"))
    charts = page.locator("#charts svg.chart")
    assert charts.count() >= 10  # orders + revenue per currency (day, month), channel, region, sellers, timing
    assert page.locator("#charts svg.chart rect.bar").count() > 100
    assert page.locator("#charts svg.chart-columns").first.bounding_box()["height"] > 100
    titles = page.inner_text("#charts")
    assert "Revenue per day (CNY)" in titles and "Revenue per day (USD)" in titles
    shot(page, "reports")
