"""The edges of input, end to end (issue 17, items 11-13): implausible dates are refused at the door
and no OverflowError reaches anyone; orders come only from configured channels; carriers book the
catalogue's weights; addresses keep what the customer wrote, with the subdivision code beside it."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from documents import orders
from tests.helpers import http

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]

SECRET = "whsec-edges"


def _nothing_stored(api: str) -> None:
    assert orders.collection().count_documents({}) == 0
    assert http.get(f"{api}/v1/orders", timeout=5).json()["orders"] == []


# --- 11. dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize("placed_at", ["9999-12-31T00:00:00+00:00", "1999-12-31T23:59:59Z"])
@pytest.mark.parametrize("method", ["online", "terms"])
def test_an_order_placed_outside_the_plausible_window_is_refused_naming_placed_at(api, seeded, placed_at, method):
    body = seeded.order([("SKU-A", 1)], payment_method=method, placed_at=placed_at)
    if method == "terms":
        body.update(b2b=True, payment={"method": "terms", "terms_days": 30, "po_number": "PO-1"})
    r = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_failed" and list(error["details"]) == ["placed_at"], error
    _nothing_stored(api)


def test_a_native_order_from_the_year_9999_is_refused_naming_placed_at(api, seeded, wms, carrier):
    from adapters.seed import load_world

    world = seeded.world(wms.url, carrier.url)
    world["channels"].append({"id": "shopify", "format": "shopify", "merchant_id": "m1", "secret": SECRET})
    load_world(world)
    raw = json.dumps({
        "id": 820982911946154508, "name": "#9999", "email": "jon@example.com", "currency": "USD",
        "created_at": "9999-12-31T10:00:00-05:00", "financial_status": "paid",
        "line_items": [{"id": 1, "sku": "SKU-A", "quantity": 1, "price": "10.00", "title": "A"}],
        "shipping_address": {"first_name": "Jon", "last_name": "Snow", "address1": "1 Main St", "city": "New York",
                             "province": "New York", "province_code": "NY", "country_code": "US", "zip": "10001"},
    }).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
    r = http.post(f"{api}/v1/channels/shopify/orders", content=raw, timeout=5, headers={
        "Content-Type": "application/json", "X-Shopify-Hmac-Sha256": signature, "X-Shopify-Webhook-Id": "wh-9999",
        "X-Shopify-Topic": "orders/create"})
    assert r.status_code == 422, r.text
    assert list(r.json()["error"]["details"]) == ["canonical.placed_at"]  # the mapped order's field
    _nothing_stored(api)


@pytest.mark.parametrize("path, params, fields", [
    ("/v1/orders", {"placed_from": "0001-01-01T00:00:00Z"}, {"query.placed_from"}),
    ("/v1/orders", {"placed_to": "9999-12-31T23:59:59+00:00"}, {"query.placed_to"}),
    ("/v1/reports/orders-by-day", {"from": "0001-01-01", "to": "9999-12-31"}, {"query.from", "query.to"}),
    ("/v1/reports/by-region", {"from": "0001-01-01T00:00:00+05:00"}, {"query.from"}),
])
def test_query_times_no_datetime_can_step_from_are_a_clear_422(api, seeded, path, params, fields):
    r = http.get(f"{api}{path}", params=params, timeout=5)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_failed" and set(error["details"]) == fields, error
    assert all("between 1900-01-01 and 9000-01-01" in m for ms in error["details"].values() for m in ms)


# --- 12. channels and parcels ---------------------------------------------------------------------


OPERATOR = {"Authorization": "Bearer test-operator"}


@pytest.mark.parametrize("channel", ["nonexistent", "shopify", "amazon"])
def test_an_order_for_a_channel_that_is_not_configured_is_refused_and_nothing_stored(api, seeded, channel):
    # Given a world whose only channel is "manual" (native format names are not channels by themselves)
    r = http.post(f"{api}/v1/channels/{channel}/orders", json=seeded.order([("SKU-A", 1)]), headers=OPERATOR,
                  timeout=5)
    assert r.status_code == 404, r.text
    error = r.json()["error"]
    assert error["code"] == "not_found" and repr(channel) in error["message"], error
    _nothing_stored(api)

    # And the configured channel still takes the same order
    assert http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)]), headers=OPERATOR,
                     timeout=5).status_code == 202
